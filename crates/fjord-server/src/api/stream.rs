//! `GET /api/v1/stream/applications`: server-sent events, one `application` event per change
//! the caller may see (`{"type": "UPSERT"|"DELETED", "application": {summary}}`). A client
//! that falls behind gets a `resync` event and should re-list.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::ApiState;
use super::error::ApiError;
use crate::auth::Caller;
use crate::auth::rbac::Action;

/// The event stream.
pub async fn applications(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let rx = state.cache.subscribe();
    let stream = futures::stream::unfold((rx, caller), |(mut rx, caller)| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let s = &ev.application;
                    if !caller.grants.allows(Action::Get, &s.project, &s.name) {
                        continue;
                    }
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    let event = Event::default().event("application").data(data);
                    return Some((Ok(event), (rx, caller)));
                }
                Err(RecvError::Lagged(_)) => {
                    let event = Event::default().event("resync").data("{}");
                    return Some((Ok(event), (rx, caller)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
