//! Watch: newline-delimited JSON events over a chunked response. A watch starts either with the
//! current state (synthetic ADDED events, for no resourceVersion or `0`, or `sendInitialEvents`) or
//! exactly after a given revision, then follows the store's revision log. A revision older than the
//! log is answered in-stream with an ERROR event carrying a 410 Status (kube-rs re-lists only on
//! that; an HTTP 410 would make it retry the same revision forever).

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::Api;
use super::read::{Selectors, partial_metadata};
use crate::http::error::{ApiError, ApiResult};
use crate::http::path::ResourceRequest;
use crate::http::request::{Query, Representation};
use crate::http::table;
use crate::store::{EventType, StoredObject};

/// Watch timing.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// How long a watch without `timeoutSeconds` stays open (real servers: 30–60 minutes).
    pub default_timeout: Duration,
    /// How often a BOOKMARK is sent to clients that allow them.
    pub bookmark_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            default_timeout: Duration::from_secs(1800),
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

enum Start {
    /// Send the current state first, then changes after it.
    WithState { initial_events_end: bool },
    /// Changes after this revision only.
    After(u64),
}

impl Api {
    /// A watch on a collection.
    pub(crate) fn watch(
        self: &Arc<Self>,
        req: ResourceRequest,
        q: &Query,
        repr: Representation,
    ) -> ApiResult<Response> {
        let selectors = Selectors::from_query(&req, q)?;
        let send_initial = match q.get("sendInitialEvents") {
            None | Some("") => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "invalid sendInitialEvents: {v}"
                )));
            }
        };
        let bookmarks = q.flag("allowWatchBookmarks");
        if send_initial.is_some()
            && (q.get("resourceVersionMatch") != Some("NotOlderThan") || !bookmarks)
        {
            return Err(ApiError {
                code: 422,
                reason: "Invalid",
                message: "sendInitialEvents requires resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true".into(),
                details: None,
            });
        }
        if send_initial.is_none() && q.get("resourceVersionMatch").is_some_and(|s| !s.is_empty()) {
            return Err(ApiError {
                code: 422,
                reason: "Invalid",
                message: "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided".into(),
                details: None,
            });
        }
        let rv = q.get("resourceVersion").filter(|s| !s.is_empty());
        let start = match (send_initial, rv) {
            (Some(true), _) => Start::WithState {
                initial_events_end: true,
            },
            (_, None | Some("0")) if send_initial != Some(false) => Start::WithState {
                initial_events_end: false,
            },
            (_, None) => Start::After(self.store.current_revision()),
            (_, Some(v)) => Start::After(
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v}")))?,
            ),
        };
        let timeout = q
            .timeout_seconds()?
            .map(Duration::from_secs)
            .unwrap_or_else(|| self.default_watch_timeout());
        let (tx, rx) = mpsc::channel::<Bytes>(256);
        let api = self.clone();
        tokio::spawn(async move {
            let stream = WatchStream {
                api,
                req,
                selectors,
                repr,
                bookmarks,
                tx,
                sent_columns: false,
            };
            stream.run(start, timeout).await;
        });
        let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
        }));
        Ok((
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response())
    }
}

struct WatchStream {
    api: Arc<Api>,
    req: ResourceRequest,
    selectors: Selectors,
    repr: Representation,
    bookmarks: bool,
    tx: mpsc::Sender<Bytes>,
    sent_columns: bool,
}

/// The client went away.
struct Closed;

impl WatchStream {
    async fn run(mut self, start: Start, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut revisions = self.api.store.subscribe();
        let prefix = self.req.rt.namespace_prefix(self.req.namespace.as_deref());
        let mut last = match start {
            Start::WithState { initial_events_end } => {
                let (items, rev, _) =
                    self.api
                        .store
                        .list(&prefix, None, None, |o: &StoredObject| {
                            self.selectors.matches(&o.value)
                        });
                for item in items {
                    if self.send("ADDED", &item.value).await.is_err() {
                        return;
                    }
                }
                if initial_events_end && self.bookmark(rev, true).await.is_err() {
                    return;
                }
                rev
            }
            Start::After(rev) => rev,
        };
        let mut bookmark_timer = tokio::time::interval(self.api.watch.bookmark_interval);
        bookmark_timer.tick().await;
        loop {
            match self.api.store.events_after(last, &prefix) {
                Err(gone) => {
                    let status = ApiError::expired(gone.to_string()).status();
                    let _ = self.raw("ERROR", &status).await;
                    return;
                }
                Ok((events, upto)) => {
                    for e in events {
                        let matches_now = self.selectors.matches(&e.object);
                        let kind = match e.kind {
                            EventType::Added => matches_now.then_some("ADDED"),
                            EventType::Deleted => matches_now.then_some("DELETED"),
                            EventType::Modified => {
                                let matched_before = e
                                    .prev
                                    .as_ref()
                                    .map(|p| self.selectors.matches(p))
                                    .unwrap_or(matches_now);
                                match (matched_before, matches_now) {
                                    (true, true) => Some("MODIFIED"),
                                    (false, true) => Some("ADDED"),
                                    (true, false) => Some("DELETED"),
                                    (false, false) => None,
                                }
                            }
                        };
                        if let Some(kind) = kind
                            && self.send(kind, &e.object).await.is_err()
                        {
                            return;
                        }
                    }
                    last = upto;
                }
            }
            tokio::select! {
                changed = revisions.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if self.bookmarks {
                        let _ = self.bookmark(last, false).await;
                    }
                    return;
                }
                _ = bookmark_timer.tick(), if self.bookmarks => {
                    if self.bookmark(last, false).await.is_err() {
                        return;
                    }
                }
                _ = self.tx.closed() => return,
            }
        }
    }

    async fn send(&mut self, kind: &str, object: &Value) -> Result<(), Closed> {
        let served = self.api.as_served_version(&self.req, object);
        let body = match self.repr {
            Representation::Full => served,
            Representation::Metadata => Cow::Owned(partial_metadata(&served)),
            Representation::Table => {
                let rev = crate::object::meta_str(&served, "resourceVersion")
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                let with_columns = !self.sent_columns;
                self.sent_columns = true;
                Cow::Owned(table::table(
                    &self.req.rt,
                    &[served.into_owned()],
                    rev,
                    None,
                    with_columns,
                ))
            }
        };
        self.raw(kind, &body).await
    }

    async fn bookmark(&self, rev: u64, initial_events_end: bool) -> Result<(), Closed> {
        let mut metadata = json!({"resourceVersion": rev.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "kind": self.req.rt.kind,
            "apiVersion": self.req.rt.api_version(),
            "metadata": metadata,
        });
        self.raw("BOOKMARK", &object).await
    }

    async fn raw(&self, kind: &str, object: &Value) -> Result<(), Closed> {
        let event = WatchEventLine { kind, object };
        let mut line = serde_json::to_vec(&event).map_err(|_| Closed)?;
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.map_err(|_| Closed)
    }
}

/// One line of a watch stream, serialised from borrowed parts (`json!` would copy the object).
#[derive(serde::Serialize)]
struct WatchEventLine<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}
