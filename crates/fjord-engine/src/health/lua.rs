//! Custom health checks in Lua, with Argo CD's contract: the script reads the global `obj`
//! (the live object as Lua tables; JSON null is nil) and returns a table
//! `{status = "...", message = "..."}`. An empty table means "no opinion" (the built-in rule,
//! if any, decides).
//!
//! Scripts come from a ConfigMap anyone with write access to the controller's namespace can
//! edit, so they run sandboxed: a fresh Lua state per evaluation with only `base` (without
//! `load`, `loadfile`, `dofile`, `require`, `collectgarbage` and `print`), `table`, `string`,
//! `math`, `utf8` and a safe `os` (`time`, `clock`, `date`, `difftime`); no `io`, `package`,
//! `debug` or `coroutine`. A hook stops the script after an instruction budget or a
//! wall-clock deadline (`pcall`/`xpcall` cannot catch that stop), and the allocator refuses
//! memory past a limit. Scripts are compiled once to bytecode
//! ([`HealthScript::compile`]); only that bytecode, never bytes from outside, is loaded as a
//! binary chunk.

use super::{HealthStatus, HealthStatusCode};
use mlua::chunk::ChunkMode;
use mlua::debug::HookTriggers;
use mlua::{Lua, LuaOptions, StdLib, VmState};
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How far a script may go before it is stopped.
#[derive(Clone, Debug)]
pub struct LuaLimits {
    /// Lua VM instructions per evaluation.
    pub instructions: u64,
    /// Wall-clock time per evaluation (Argo CD: 1 s).
    pub time: Duration,
    /// Bytes the Lua state may allocate (the object's tables included).
    pub memory: usize,
}

impl Default for LuaLimits {
    fn default() -> Self {
        LuaLimits {
            instructions: 50_000_000,
            time: Duration::from_secs(1),
            memory: 32 << 20,
        }
    }
}

/// Why a health script gave no health.
#[derive(Debug, thiserror::Error)]
pub enum LuaHealthError {
    /// The script does not compile.
    #[error("health script {script} does not compile: {message}")]
    Compile {
        /// Where the script came from (`argocd-cm` key).
        script: String,
        /// Lua's message.
        message: String,
    },
    /// The Lua state could not be set up.
    #[error("health script {script}: setting up the sandbox failed: {message}")]
    Sandbox {
        /// The script.
        script: String,
        /// The cause.
        message: String,
    },
    /// The instruction budget ran out.
    #[error("health script {script} was stopped after {limit} instructions (loop?)")]
    InstructionLimit {
        /// The script.
        script: String,
        /// The budget.
        limit: u64,
    },
    /// The deadline passed.
    #[error("health script {script} was stopped after {limit:?} (time limit)")]
    TimeLimit {
        /// The script.
        script: String,
        /// The deadline.
        limit: Duration,
    },
    /// The script allocated past the memory limit.
    #[error("health script {script} was stopped: it exceeded the memory limit of {limit} bytes")]
    MemoryLimit {
        /// The script.
        script: String,
        /// The limit.
        limit: usize,
    },
    /// The script raised an error.
    #[error("health script {script} failed: {message}")]
    Runtime {
        /// The script.
        script: String,
        /// Lua's message.
        message: String,
    },
    /// The script returned something other than a health table.
    #[error("health script {script} returned {message}")]
    BadResult {
        /// The script.
        script: String,
        /// What was wrong.
        message: String,
    },
}

/// Why the hook stopped the script.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Instructions,
    Time,
}

const HOOK_STEP: u32 = 1000;

/// A compiled health script.
#[derive(Clone, Debug)]
pub struct HealthScript {
    name: String,
    bytecode: Vec<u8>,
}

/// A Lua state with only the safe libraries and the memory limit set.
fn sandbox(memory: usize) -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::OS,
        LuaOptions::default(),
    )?;
    let globals = lua.globals();
    for name in [
        "dofile",
        "loadfile",
        "load",
        "loadstring",
        "require",
        "collectgarbage",
        "print",
    ] {
        globals.raw_set(name, mlua::Nil)?;
    }
    // The safe subset of `os`: no process, file or environment access.
    let os: mlua::Table = globals.get("os")?;
    let safe = lua.create_table()?;
    for name in ["time", "clock", "date", "difftime"] {
        safe.raw_set(name, os.get::<mlua::Value>(name)?)?;
    }
    globals.raw_set("os", safe)?;
    lua.set_memory_limit(memory)?;
    Ok(lua)
}

/// Replaces `pcall` and `xpcall` with versions that let the sandbox's stop through: once the
/// hook has stopped the script, a protected call re-raises instead of returning false, so
/// `while true do pcall(f) end` cannot outlive the limits.
fn uncatchable_stops(lua: &Lua, stopped: &Rc<Cell<Option<Stop>>>) -> mlua::Result<()> {
    let globals = lua.globals();
    for name in ["pcall", "xpcall"] {
        let original: mlua::Function = globals.get(name)?;
        let flag = stopped.clone();
        let guarded = lua.create_function(move |_, args: mlua::MultiValue| {
            let result: mlua::MultiValue = original.call(args)?;
            if flag.get().is_some() {
                return Err(mlua::Error::RuntimeError("stopped by the sandbox".into()));
            }
            Ok(result)
        })?;
        globals.raw_set(name, guarded)?;
    }
    Ok(())
}

/// `value` as a Lua value (objects and arrays as tables, null as nil).
fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<mlua::Value> {
    Ok(match value {
        Value::Null => mlua::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => mlua::Value::Integer(i),
            None => mlua::Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(t)
        }
        Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), to_lua(lua, v)?)?;
            }
            mlua::Value::Table(t)
        }
    })
}

/// The innermost error of a callback chain.
fn root(e: &mlua::Error) -> &mlua::Error {
    match e {
        mlua::Error::CallbackError { cause, .. } => root(cause),
        other => other,
    }
}

fn lua_message(e: &mlua::Error) -> String {
    match root(e) {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn code_of(status: &str) -> Option<HealthStatusCode> {
    Some(match status {
        "Healthy" => HealthStatusCode::Healthy,
        "Progressing" => HealthStatusCode::Progressing,
        "Degraded" => HealthStatusCode::Degraded,
        "Suspended" => HealthStatusCode::Suspended,
        "Missing" => HealthStatusCode::Missing,
        "Unknown" => HealthStatusCode::Unknown,
        _ => return None,
    })
}

impl HealthScript {
    /// Compiles `source`; `name` says where it came from in messages.
    pub fn compile(name: &str, source: &str) -> Result<HealthScript, LuaHealthError> {
        let lua = sandbox(LuaLimits::default().memory).map_err(|e| LuaHealthError::Sandbox {
            script: name.to_string(),
            message: e.to_string(),
        })?;
        let function = lua
            .load(source)
            .set_name(format!("={name}"))
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| LuaHealthError::Compile {
                script: name.to_string(),
                message: lua_message(&e),
            })?;
        Ok(HealthScript {
            name: name.to_string(),
            bytecode: function.dump(false),
        })
    }

    /// Where the script came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs the script on `obj`. `Ok(None)`: the script returned an empty table.
    pub fn run(
        &self,
        obj: &Value,
        limits: &LuaLimits,
    ) -> Result<Option<HealthStatus>, LuaHealthError> {
        let script = || self.name.clone();
        let lua = sandbox(limits.memory).map_err(|e| LuaHealthError::Sandbox {
            script: script(),
            message: e.to_string(),
        })?;
        let memory_err = || LuaHealthError::MemoryLimit {
            script: script(),
            limit: limits.memory,
        };
        let obj = match to_lua(&lua, obj) {
            Ok(v) => v,
            Err(mlua::Error::MemoryError(_)) => return Err(memory_err()),
            Err(e) => {
                return Err(LuaHealthError::Sandbox {
                    script: script(),
                    message: e.to_string(),
                });
            }
        };
        lua.globals()
            .raw_set("obj", obj)
            .map_err(|_| memory_err())?;
        let stopped: Rc<Cell<Option<Stop>>> = Rc::new(Cell::new(None));
        uncatchable_stops(&lua, &stopped).map_err(|e| LuaHealthError::Sandbox {
            script: script(),
            message: e.to_string(),
        })?;
        let flag = stopped.clone();
        let deadline = Instant::now() + limits.time;
        let budget = limits.instructions;
        let counter = Cell::new(0u64);
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_STEP),
            move |_, _| {
                counter.set(counter.get() + u64::from(HOOK_STEP));
                let stop = if flag.get().is_some() {
                    flag.get()
                } else if counter.get() > budget {
                    Some(Stop::Instructions)
                } else if Instant::now() > deadline {
                    Some(Stop::Time)
                } else {
                    None
                };
                match stop {
                    Some(s) => {
                        flag.set(Some(s));
                        Err(mlua::Error::RuntimeError("stopped by the sandbox".into()))
                    }
                    None => Ok(VmState::Continue),
                }
            },
        )
        .map_err(|e| LuaHealthError::Sandbox {
            script: script(),
            message: e.to_string(),
        })?;
        let function = lua
            .load(&self.bytecode[..])
            .set_name(format!("={}", self.name))
            .set_mode(ChunkMode::Binary)
            .into_function()
            .map_err(|e| LuaHealthError::Sandbox {
                script: script(),
                message: e.to_string(),
            })?;
        let result = function.call::<mlua::Value>(());
        // The hook's verdict wins, even if the script caught the error it raised.
        match stopped.get() {
            Some(Stop::Instructions) => {
                return Err(LuaHealthError::InstructionLimit {
                    script: script(),
                    limit: limits.instructions,
                });
            }
            Some(Stop::Time) => {
                return Err(LuaHealthError::TimeLimit {
                    script: script(),
                    limit: limits.time,
                });
            }
            None => {}
        }
        let returned = match result {
            Ok(v) => v,
            Err(e) => {
                return Err(match root(&e) {
                    mlua::Error::MemoryError(_) => memory_err(),
                    _ => LuaHealthError::Runtime {
                        script: script(),
                        message: lua_message(&e),
                    },
                });
            }
        };
        let bad = |message: String| LuaHealthError::BadResult {
            script: script(),
            message,
        };
        let mlua::Value::Table(table) = returned else {
            return Err(bad(format!(
                "a {} where a table {{status, message}} was expected",
                returned.type_name()
            )));
        };
        let field = |key: &str| -> Result<Option<String>, LuaHealthError> {
            match table.raw_get::<mlua::Value>(key) {
                Ok(mlua::Nil) => Ok(None),
                Ok(mlua::Value::String(s)) => Ok(Some(s.to_string_lossy())),
                Ok(other) => Err(bad(format!(
                    "a {} as `{key}` where a string was expected",
                    other.type_name()
                ))),
                Err(e) => Err(bad(e.to_string())),
            }
        };
        let status = field("status")?;
        let message = field("message")?;
        let Some(status) = status else {
            let empty = table.pairs::<mlua::Value, mlua::Value>().next().is_none();
            if message.is_none() && empty {
                return Ok(None);
            }
            return Err(bad("a table without `status`".to_string()));
        };
        let Some(code) = code_of(&status) else {
            return Err(bad(format!(
                "status {status:?}, which is not a health status (Healthy, Progressing, Degraded, Suspended, Missing, Unknown)"
            )));
        };
        Ok(Some(HealthStatus::new(code, message.unwrap_or_default())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(source: &str, obj: Value) -> Result<Option<HealthStatus>, LuaHealthError> {
        let limits = LuaLimits {
            time: Duration::from_secs(5),
            ..Default::default()
        };
        HealthScript::compile("test", source)?.run(&obj, &limits)
    }

    const READY: &str = r#"
        hs = {status = "Progressing", message = "Waiting"}
        if obj.status ~= nil and obj.status.conditions ~= nil then
          for i, c in ipairs(obj.status.conditions) do
            if c.type == "Ready" and c.status == "False" then
              hs.status = "Degraded"
              hs.message = c.message
            elseif c.type == "Ready" and c.status == "True" then
              hs.status = "Healthy"
              hs.message = string.format("ready after %d tries", obj.status.tries)
            end
          end
        end
        return hs
    "#;

    #[test]
    fn reads_obj_and_returns_status_and_message() {
        let h = run(READY, json!({"status": {"conditions": [{"type": "Ready", "status": "False", "message": "broken"}]}}))
            .unwrap()
            .unwrap();
        assert_eq!(h.status, HealthStatusCode::Degraded);
        assert_eq!(h.message, "broken");
        let h = run(
            READY,
            json!({"status": {"tries": 3, "conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.status, HealthStatusCode::Healthy);
        assert_eq!(h.message, "ready after 3 tries");
        let h = run(READY, json!({"spec": null})).unwrap().unwrap();
        assert_eq!(h.status, HealthStatusCode::Progressing);
    }

    #[test]
    fn empty_table_is_no_opinion_and_bad_results_are_errors() {
        assert_eq!(run("return {}", json!({})).unwrap(), None);
        let e = run("return 42", json!({})).unwrap_err();
        assert!(matches!(e, LuaHealthError::BadResult { .. }), "{e}");
        let e = run("return {status = 'Fine'}", json!({})).unwrap_err();
        assert!(e.to_string().contains("\"Fine\""), "{e}");
        let e = run("return {message = 'x'}", json!({})).unwrap_err();
        assert!(e.to_string().contains("without `status`"), "{e}");
    }

    #[test]
    fn an_endless_loop_is_stopped_by_the_instruction_budget() {
        let limits = LuaLimits {
            instructions: 1_000_000,
            time: Duration::from_secs(30),
            ..Default::default()
        };
        let started = Instant::now();
        let e = HealthScript::compile("loop", "while true do end")
            .unwrap()
            .run(&json!({}), &limits)
            .unwrap_err();
        assert!(matches!(e, LuaHealthError::InstructionLimit { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn an_endless_loop_is_stopped_by_the_deadline_even_under_pcall() {
        let limits = LuaLimits {
            instructions: u64::MAX,
            time: Duration::from_millis(200),
            ..Default::default()
        };
        let started = Instant::now();
        let script = "while true do pcall(function() while true do end end) end";
        let e = HealthScript::compile("pcall-loop", script)
            .unwrap()
            .run(&json!({}), &limits)
            .unwrap_err();
        assert!(matches!(e, LuaHealthError::TimeLimit { .. }), "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn memory_is_limited() {
        let limits = LuaLimits {
            memory: 4 << 20,
            time: Duration::from_secs(10),
            ..Default::default()
        };
        let script = "local t = {} for i = 1, 100000000 do t[i] = string.rep('x', 64) .. i end return {status = 'Healthy'}";
        let e = HealthScript::compile("hog", script)
            .unwrap()
            .run(&json!({}), &limits)
            .unwrap_err();
        assert!(matches!(e, LuaHealthError::MemoryLimit { .. }), "{e}");
    }

    #[test]
    fn no_io_os_package_debug_or_loading() {
        for (probe, what) in [
            ("return io.open('/etc/passwd')", "io"),
            ("return os.execute('true')", "os.execute"),
            ("return os.getenv('HOME')", "os.getenv"),
            ("return require('os')", "require"),
            ("return package.path", "package"),
            ("return debug.getinfo(1)", "debug"),
            ("return load('return 1')()", "load"),
            ("return dofile('/etc/passwd')", "dofile"),
            ("return loadfile('/etc/passwd')", "loadfile"),
        ] {
            let e = run(probe, json!({})).unwrap_err();
            assert!(matches!(e, LuaHealthError::Runtime { .. }), "{what}: {e}");
        }
        // The safe parts work.
        let h = run(
            "local t = os.time() assert(type(t) == 'number') return {status = 'Healthy', message = string.upper(table.concat({'a','b'}, '-'))}",
            json!({}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.message, "A-B");
    }

    #[test]
    fn errors_and_syntax_errors_are_reported() {
        let e = run("error('custom failure')", json!({})).unwrap_err();
        assert!(e.to_string().contains("custom failure"), "{e}");
        let e = run("return obj.status.missing.field", json!({})).unwrap_err();
        assert!(matches!(e, LuaHealthError::Runtime { .. }), "{e}");
        let e = HealthScript::compile("broken", "return {").unwrap_err();
        assert!(matches!(e, LuaHealthError::Compile { .. }), "{e}");
    }

    #[test]
    fn globals_do_not_leak_between_runs() {
        let s = HealthScript::compile(
            "leak",
            "if seen then return {status = 'Degraded'} end seen = true return {status = 'Healthy'}",
        )
        .unwrap();
        let limits = LuaLimits::default();
        for _ in 0..2 {
            let h = s.run(&json!({}), &limits).unwrap().unwrap();
            assert_eq!(h.status, HealthStatusCode::Healthy);
        }
    }
}
