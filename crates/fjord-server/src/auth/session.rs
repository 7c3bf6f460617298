//! Browser sessions: logging in with a token (`POST /api/v1/session`) creates a session whose
//! id travels in an `HttpOnly; SameSite=Strict` cookie (`Secure` when served over HTTPS).
//! Every state-changing request made with the cookie must repeat the session's CSRF token in
//! the `X-CSRF-Token` header; bearer-token requests need none (a browser never adds them by
//! itself). Sessions live in memory for twelve hours; a restart logs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::rbac::Identity;
use super::tokens::random_hex;

/// The session cookie.
pub const COOKIE: &str = "fjord_session";
/// The header carrying the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// One session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Who logged in.
    pub identity: Identity,
    /// The CSRF token the browser must echo.
    pub csrf: String,
    expires: Instant,
}

/// All sessions.
#[derive(Default)]
pub struct SessionStore {
    sessions: Mutex<HashMap<String, Session>>,
}

impl SessionStore {
    /// Starts a session; returns its id and CSRF token.
    pub fn create(&self, identity: Identity) -> (String, String) {
        let id = random_hex(32);
        let csrf = random_hex(32);
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(
            id.clone(),
            Session {
                identity,
                csrf: csrf.clone(),
                expires: now + LIFETIME,
            },
        );
        (id, csrf)
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id).filter(|s| s.expires > Instant::now()).cloned()
    }

    /// Ends a session.
    pub fn remove(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}

/// The `Set-Cookie` value starting a session.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value ending a session.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The session id in a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_end() {
        let store = SessionStore::default();
        let who = Identity {
            name: "admin".into(),
            subjects: vec![],
        };
        let (id, csrf) = store.create(who.clone());
        let s = store.get(&id).unwrap();
        assert_eq!(s.identity, who);
        assert_eq!(s.csrf, csrf);
        assert_ne!(id, csrf);
        store.remove(&id);
        assert!(store.get(&id).is_none());
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_on_https() {
        let c = set_cookie("abc", true);
        for part in [
            "fjord_session=abc",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
        ] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie("abc", false).contains("Secure"));
        assert_eq!(cookie_value("a=b; fjord_session=xyz; c=d"), Some("xyz"));
        assert_eq!(cookie_value("fjord_session="), None);
    }
}
