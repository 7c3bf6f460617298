//! `spec.template.data`: Go `text/template` sources rendered over the decrypted items. This is
//! the subset users write for config files: text, `{{ .key }}`, `{{ index . "key-with-dash" }}`,
//! pipelines, trim markers (`{{-`, `-}}`), comments, string literals and a small set of
//! functions (`print`, `printf` with `%s %v %q %%`, and Sprig's `b64enc b64dec upper lower trim
//! trimPrefix trimSuffix quote squote replace default nospace`). Control structures (`if`,
//! `range`, `with`, variables) are refused with an error naming them, never silently mis-rendered.
//!
//! Go semantics kept: `{{ .missing }}` prints `<no value>`, `{{ index . "missing" }}` prints "".
//! Values are bytes (items may be binary); errors never include a value.

use std::collections::BTreeMap;

use base64::Engine as _;

/// What an expression evaluates to.
#[derive(Debug, Clone)]
enum Val {
    Bytes(Vec<u8>),
    /// `.missing`: prints `<no value>`, refused as a function argument.
    Missing(String),
    /// `.` itself (the map of items): only usable as `index`'s first argument.
    Dot,
}

/// Render `source` over `items`. The error is a short description for the caller to tag with the
/// template key.
pub(crate) fn render(source: &str, items: &BTreeMap<String, Vec<u8>>) -> Result<Vec<u8>, String> {
    let mut out: Vec<u8> = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        let after_open = &rest[start + 2..];
        let trim_left = after_open.starts_with('-')
            && after_open[1..].starts_with(|c: char| c.is_ascii_whitespace());
        if trim_left {
            text = text.trim_end();
        }
        out.extend_from_slice(text.as_bytes());
        let body_start = if trim_left { 1 } else { 0 };
        let end = after_open
            .find("}}")
            .ok_or_else(|| "unclosed action (missing }})".to_string())?;
        let mut body = &after_open[body_start..end];
        let trim_right = body.ends_with('-')
            && body[..body.len() - 1].ends_with(|c: char| c.is_ascii_whitespace());
        if trim_right {
            body = &body[..body.len() - 1];
        }
        rest = &after_open[end + 2..];
        if trim_right {
            rest = rest.trim_start();
        }
        let body = body.trim();
        if body.starts_with("/*") {
            if !body.ends_with("*/") {
                return Err("unclosed comment".into());
            }
            continue;
        }
        match eval_pipeline(body, items)? {
            Val::Bytes(b) => out.extend_from_slice(&b),
            Val::Missing(_) => out.extend_from_slice(b"<no value>"),
            Val::Dot => return Err("printing the whole item map is not supported".into()),
        }
    }
    out.extend_from_slice(rest.as_bytes());
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Dot,
    Field(String),
    Str(String),
    Ident(String),
    Pipe,
}

fn tokenize(body: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '|' {
            tokens.push(Token::Pipe);
            i += 1;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err("unterminated string literal".into());
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err("unterminated string literal".into());
                        };
                        i += 1;
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '\\' => '\\',
                            '"' => '"',
                            other => return Err(format!("unsupported escape \\{other}")),
                        });
                    }
                    c => s.push(c),
                }
            }
            tokens.push(Token::Str(s));
        } else if c == '`' {
            let close = chars[i + 1..]
                .iter()
                .position(|&c| c == '`')
                .ok_or_else(|| "unterminated raw string".to_string())?;
            tokens.push(Token::Str(chars[i + 1..i + 1 + close].iter().collect()));
            i += close + 2;
        } else if c == '.' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j < chars.len() && chars[j] == '.' {
                return Err("nested fields (.a.b) are not supported: items are strings".into());
            }
            if j == start {
                tokens.push(Token::Dot);
            } else {
                tokens.push(Token::Field(chars[start..j].iter().collect()));
            }
            i = j;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c == '$' || c == '(' || c == ')' {
            return Err(format!(
                "{c:?} (variables and parentheses) is not supported"
            ));
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(tokens)
}

fn eval_pipeline(body: &str, items: &BTreeMap<String, Vec<u8>>) -> Result<Val, String> {
    let tokens = tokenize(body)?;
    if tokens.is_empty() {
        return Err("empty action {{ }}".into());
    }
    let mut result: Option<Val> = None;
    for command in tokens.split(|t| *t == Token::Pipe) {
        result = Some(eval_command(command, result, items)?);
    }
    result.ok_or_else(|| "empty pipeline".to_string())
}

fn operand(token: &Token, items: &BTreeMap<String, Vec<u8>>) -> Result<Val, String> {
    Ok(match token {
        Token::Dot => Val::Dot,
        Token::Field(name) => match items.get(name) {
            Some(v) => Val::Bytes(v.clone()),
            None => Val::Missing(name.clone()),
        },
        Token::Str(s) => Val::Bytes(s.clone().into_bytes()),
        Token::Ident(name) => return Err(format!("function {name:?} used as a value")),
        Token::Pipe => return Err("empty command in pipeline".into()),
    })
}

fn eval_command(
    command: &[Token],
    piped: Option<Val>,
    items: &BTreeMap<String, Vec<u8>>,
) -> Result<Val, String> {
    let Some(first) = command.first() else {
        return Err("empty command in pipeline".into());
    };
    let Token::Ident(name) = first else {
        if command.len() > 1 || piped.is_some() {
            return Err("only functions take arguments".into());
        }
        return operand(first, items);
    };
    let mut args = command[1..]
        .iter()
        .map(|t| operand(t, items))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = piped {
        args.push(p);
    }
    call(name, args, items)
}

fn bytes(v: Val, func: &str) -> Result<Vec<u8>, String> {
    match v {
        Val::Bytes(b) => Ok(b),
        Val::Missing(key) => Err(format!(
            "{func}: there is no item {key:?} (use index . \"{key}\" for an empty default)"
        )),
        Val::Dot => Err(format!("{func}: cannot use the whole item map here")),
    }
}

fn text(v: Val, func: &str) -> Result<String, String> {
    bytes(v, func).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn arity(func: &str, args: &[Val], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {func}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn call(name: &str, args: Vec<Val>, items: &BTreeMap<String, Vec<u8>>) -> Result<Val, String> {
    let mut args = args;
    let out: Vec<u8> = match name {
        "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block" | "break"
        | "continue" => {
            return Err(format!(
                "the {name:?} action is not supported in template.data"
            ));
        }
        "index" => {
            arity(name, &args, 2)?;
            let key = text(args.remove(1), name)?;
            if !matches!(args[0], Val::Dot) {
                return Err("index: only `index . \"key\"` is supported".into());
            }
            // Go: a missing map key through index gives the zero value, "".
            items.get(&key).cloned().unwrap_or_default()
        }
        "print" => {
            let mut out = Vec::new();
            for a in args {
                out.extend(bytes(a, name)?);
            }
            out
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1".into());
            }
            let format = text(args.remove(0), name)?;
            printf(&format, args)?
        }
        "b64enc" => {
            arity(name, &args, 1)?;
            let v = bytes(args.remove(0), name)?;
            base64::engine::general_purpose::STANDARD
                .encode(v)
                .into_bytes()
        }
        "b64dec" => {
            arity(name, &args, 1)?;
            let v = bytes(args.remove(0), name)?;
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| "b64dec: the value is not valid base64".to_string())?
        }
        "upper" | "lower" | "trim" | "quote" | "squote" | "nospace" => {
            arity(name, &args, 1)?;
            let s = text(args.remove(0), name)?;
            match name {
                "upper" => s.to_uppercase(),
                "lower" => s.to_lowercase(),
                "trim" => s.trim().to_string(),
                "quote" => format!("{s:?}"),
                "squote" => format!("'{s}'"),
                _ => s.chars().filter(|c| !c.is_whitespace()).collect(),
            }
            .into_bytes()
        }
        "trimPrefix" | "trimSuffix" => {
            arity(name, &args, 2)?;
            let s = text(args.remove(1), name)?;
            let affix = text(args.remove(0), name)?;
            let trimmed = if name == "trimPrefix" {
                s.strip_prefix(&affix)
            } else {
                s.strip_suffix(&affix)
            };
            trimmed.unwrap_or(&s).to_string().into_bytes()
        }
        "replace" => {
            arity(name, &args, 3)?;
            let s = text(args.remove(2), name)?;
            let new = text(args.remove(1), name)?;
            let old = text(args.remove(0), name)?;
            s.replace(&old, &new).into_bytes()
        }
        "default" => {
            arity(name, &args, 2)?;
            let given = args.remove(1);
            let fallback = bytes(args.remove(0), name)?;
            match given {
                Val::Bytes(b) if !b.is_empty() => b,
                Val::Bytes(_) | Val::Missing(_) => fallback,
                Val::Dot => return Err("default: cannot use the whole item map here".into()),
            }
        }
        other => {
            return Err(format!(
                "function {other:?} is not supported in template.data"
            ));
        }
    };
    Ok(Val::Bytes(out))
}

fn printf(format: &str, args: Vec<Val>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('%') => out.push(b'%'),
            Some(verb @ ('s' | 'v' | 'q')) => {
                let arg = args
                    .next()
                    .ok_or_else(|| format!("printf: missing argument for %{verb}"))?;
                let b = bytes(arg, "printf")?;
                if verb == 'q' {
                    out.extend_from_slice(format!("{:?}", String::from_utf8_lossy(&b)).as_bytes());
                } else {
                    out.extend_from_slice(&b);
                }
            }
            Some(other) => return Err(format!("printf: verb %{other} is not supported")),
            None => return Err("printf: format ends with %".into()),
        }
    }
    if args.next().is_some() {
        return Err("printf: more arguments than verbs".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            ("user".to_string(), b"admin".to_vec()),
            ("pass-word".to_string(), b"s3cr3t".to_vec()),
            ("bin".to_string(), vec![0, 255, 1]),
        ])
    }

    fn r(src: &str) -> Result<String, String> {
        render(src, &items()).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    #[test]
    fn fields_index_and_missing_keys_follow_go() {
        assert_eq!(
            r("url: https://{{ .user }}:{{ index . \"pass-word\" }}@host").unwrap(),
            "url: https://admin:s3cr3t@host"
        );
        assert_eq!(r("[{{ .missing }}]").unwrap(), "[<no value>]");
        assert_eq!(r("[{{ index . \"missing\" }}]").unwrap(), "[]");
        assert_eq!(r("no actions").unwrap(), "no actions");
    }

    #[test]
    fn binary_values_pass_through() {
        assert_eq!(render("{{.bin}}", &items()).unwrap(), vec![0, 255, 1]);
    }

    #[test]
    fn pipelines_functions_trim_and_comments() {
        assert_eq!(r("{{ .user | upper }}").unwrap(), "ADMIN");
        assert_eq!(r("{{ .user | b64enc | b64dec }}").unwrap(), "admin");
        assert_eq!(r("a  {{- .user -}}  b").unwrap(), "aadminb");
        assert_eq!(r("x{{/* note */}}y").unwrap(), "xy");
        assert_eq!(
            r("{{ printf \"%s=%q\" .user `v` }}").unwrap(),
            "admin=\"v\""
        );
        assert_eq!(r("{{ index . \"nope\" | default \"d\" }}").unwrap(), "d");
        assert_eq!(r("{{ .user | quote }}").unwrap(), "\"admin\"");
        assert_eq!(r("{{ replace \"a\" \"A\" .user }}").unwrap(), "Admin");
        assert_eq!(r("{{ .user | trimPrefix \"ad\" }}").unwrap(), "min");
    }

    #[test]
    fn unsupported_constructs_are_errors_not_garbage() {
        assert!(
            r("{{ if .user }}x{{ end }}")
                .unwrap_err()
                .contains("\"if\"")
        );
        assert!(
            r("{{ env \"HOME\" }}")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(r("{{ .user").unwrap_err().contains("unclosed"));
        assert!(r("{{ $x := 1 }}").is_err());
        assert!(r("{{ .missing | upper }}").unwrap_err().contains("no item"));
    }
}
