//! The audit trail's log line. The engine emits each audit record as a tracing event with
//! target `fjord::audit` and one field, `record`, holding the record as JSON. This layer
//! writes that JSON alone on its own line, so the human log around it does not make it
//! invalid; the human layer leaves these events out. An operator keeps the records with
//! `grep '^{"version":"fjord.dev/audit/' ` (or `jq -R 'fromjson? | select(.version)'`).
//! `RUST_LOG` does not turn them off.

use std::fmt;
use std::io::Write;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// Writes the `record` field of `fjord::audit` events as one line each.
pub struct AuditLines<W> {
    make_writer: W,
}

impl<W> AuditLines<W> {
    /// Lines go to `make_writer` (stderr in the binary).
    pub fn new(make_writer: W) -> Self {
        AuditLines { make_writer }
    }
}

#[derive(Default)]
struct RecordField(Option<String>);

impl Visit for RecordField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "record" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "record" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S, W> Layer<S> for AuditLines<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != fjord_engine::audit::LOG_TARGET {
            return;
        }
        let mut field = RecordField::default();
        event.record(&mut field);
        if let Some(json) = field.0 {
            // One write of the whole line: the stderr lock keeps other lines out of it.
            let line = format!("{}\n", json.replace('\n', " "));
            let _ = self.make_writer.make_writer().write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::prelude::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn audit_events_become_bare_json_lines_and_the_human_log_skips_them() {
        let audit = Buffer::default();
        let human = Buffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(human.clone())
                    .with_ansi(false)
                    .with_filter(super::super::human_filter("info")),
            )
            .with(AuditLines::new(audit.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("a human line");
            let json = r#"{"version":"fjord.dev/audit/v1","phase":"Succeeded"}"#;
            tracing::info!(target: "fjord::audit", record = %json);
        });
        let audit = String::from_utf8(audit.0.lock().unwrap().clone()).unwrap();
        let human = String::from_utf8(human.0.lock().unwrap().clone()).unwrap();
        assert_eq!(audit.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(audit.trim_end()).unwrap();
        assert_eq!(v["phase"], "Succeeded");
        assert!(human.contains("a human line"), "{human}");
        assert!(!human.contains("fjord.dev/audit"), "{human}");
    }
}
