//! Authorisation by AppProject roles, in Argo CD's policy format.
//!
//! A caller carries subjects: its groups (from the token Secret) and the built-in roles
//! `role:admin` (everything) and `role:readonly` (`get` on everything). Each AppProject role
//! (`spec.roles[]`) grants its `policies` lines to subject `proj:<project>:<role>` and to every
//! caller in one of its `groups`:
//!
//! ```text
//! p, proj:prod:deployer, applications, sync, prod/*, allow
//! ```
//!
//! Fields: subject, resource (`applications` or `*`), action (`get`, `sync`, `update`,
//! `delete`, `action`, `override` or `*`), object (`<project>/<application glob>`), effect
//! (`allow` or `deny`). A role's lines count only for objects in its own project, as Argo CD
//! enforces. `deny` wins over `allow`; nothing granted means forbidden.

use fjord_engine::types::AppProject;
use serde_json::Value;

/// The built-in administrator role.
pub const ROLE_ADMIN: &str = "role:admin";
/// The built-in read-only role.
pub const ROLE_READONLY: &str = "role:readonly";

/// What an API call does to an Application, in Argo CD's action names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read (list, get, tree, manifests, diff, events, history, refresh).
    Get,
    /// Sync, rollback, terminate.
    Sync,
    /// Delete.
    Delete,
}

impl Action {
    /// Argo CD's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Sync => "sync",
            Action::Delete => "delete",
        }
    }
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's (or session's) name, shown in `initiatedBy`.
    pub name: String,
    /// Groups and roles.
    pub subjects: Vec<String>,
}

/// One policy line.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    subject: String,
    resource: String,
    action: String,
    object: String,
    allow: bool,
}

/// Why a policy line was skipped (reported in logs, never fatal).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    /// Not `p, subject, resource, action, object, effect`.
    #[error(
        "AppProject {project}: role {role}: policy {line:?}: expected `p, subject, resource, action, object, allow|deny`"
    )]
    Malformed {
        /// The AppProject.
        project: String,
        /// The role.
        role: String,
        /// The line.
        line: String,
    },
}

/// Parses one `p, ...` line.
pub fn parse_line(project: &str, role: &str, line: &str) -> Result<Rule, PolicyError> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let malformed = || PolicyError::Malformed {
        project: project.into(),
        role: role.into(),
        line: line.into(),
    };
    let [p, subject, resource, action, object, effect] = fields.as_slice() else {
        return Err(malformed());
    };
    if *p != "p" || !matches!(*effect, "allow" | "deny") {
        return Err(malformed());
    }
    Ok(Rule {
        subject: subject.to_string(),
        resource: resource.to_string(),
        action: action.to_string(),
        object: object.to_string(),
        allow: *effect == "allow",
    })
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The compiled policies of every AppProject, restricted to one caller.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    admin: bool,
    readonly: bool,
    /// (project, rule) pairs whose subject is the caller's.
    rules: Vec<(String, Rule)>,
}

fn str_list(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

impl Grants {
    /// Compiles what `who` may do under `projects`' roles.
    pub fn compile<'a>(who: &Identity, projects: impl IntoIterator<Item = &'a AppProject>) -> Self {
        let has = |s: &str| who.subjects.iter().any(|x| x == s);
        let mut grants = Grants {
            admin: has(ROLE_ADMIN),
            readonly: has(ROLE_READONLY),
            rules: Vec::new(),
        };
        if grants.admin {
            return grants;
        }
        for project in projects {
            let pname = project.metadata.name.clone().unwrap_or_default();
            let roles = project
                .spec
                .extra
                .get("roles")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for role in &roles {
                let rname = role.get("name").and_then(Value::as_str).unwrap_or("");
                let subject = format!("proj:{pname}:{rname}");
                let member = has(&subject) || str_list(role.get("groups")).iter().any(|g| has(g));
                if !member {
                    continue;
                }
                for line in str_list(role.get("policies")) {
                    match parse_line(&pname, rname, line) {
                        Ok(rule) if rule.subject == subject => {
                            grants.rules.push((pname.clone(), rule))
                        }
                        Ok(_) => tracing::warn!(
                            project = %pname, role = rname,
                            "policy names another subject; ignored"
                        ),
                        Err(e) => tracing::warn!("{e}"),
                    }
                }
            }
        }
        grants
    }

    /// Whether the caller may do `action` to Application `app` of `project`.
    pub fn allows(&self, action: Action, project: &str, app: &str) -> bool {
        if self.admin || (self.readonly && action == Action::Get) {
            return true;
        }
        let object = format!("{project}/{app}");
        let mut allowed = false;
        for (role_project, rule) in &self.rules {
            let applies = role_project == project
                && (rule.resource == "applications" || rule.resource == "*")
                && (rule.action == "*" || rule.action == action.as_str())
                && glob_match(&rule.object, &object);
            if applies {
                if !rule.allow {
                    return false;
                }
                allowed = true;
            }
        }
        allowed
    }

    /// True when the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.admin
    }

    /// True when the caller may read every Application (then telling it one does not exist
    /// reveals nothing).
    pub fn reads_everything(&self) -> bool {
        self.admin || self.readonly
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> AppProject {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "prod"},
            "spec": {"roles": [
                {"name": "viewer", "groups": ["team-view"],
                 "policies": ["p, proj:prod:viewer, applications, get, prod/*, allow"]},
                {"name": "deployer", "groups": ["team-ops"],
                 "policies": [
                    "p, proj:prod:deployer, applications, *, prod/*, allow",
                    "p, proj:prod:deployer, applications, delete, prod/db-*, deny",
                    "p, proj:prod:deployer, applications, sync, other/*, allow",
                    "p, proj:dev:deployer, applications, sync, prod/*, allow",
                    "garbage"
                 ]}
            ]}
        }))
        .unwrap()
    }

    fn who(subjects: &[&str]) -> Identity {
        Identity {
            name: "t".into(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_viewer_group_reads_but_cannot_sync() {
        let p = project();
        let g = Grants::compile(&who(&["team-view"]), [&p]);
        assert!(g.allows(Action::Get, "prod", "pay"));
        assert!(!g.allows(Action::Sync, "prod", "pay"));
        assert!(!g.allows(Action::Get, "dev", "pay"), "another project");
    }

    #[test]
    fn deny_wins_and_a_role_cannot_grant_outside_its_project() {
        let p = project();
        let g = Grants::compile(&who(&["proj:prod:deployer"]), [&p]);
        assert!(g.allows(Action::Sync, "prod", "pay"));
        assert!(g.allows(Action::Delete, "prod", "web"));
        assert!(!g.allows(Action::Delete, "prod", "db-main"));
        assert!(!g.allows(Action::Sync, "other", "x"));
    }

    #[test]
    fn built_in_roles_and_strangers() {
        let p = project();
        assert!(Grants::compile(&who(&[ROLE_ADMIN]), [&p]).allows(Action::Delete, "x", "y"));
        let ro = Grants::compile(&who(&[ROLE_READONLY]), [&p]);
        assert!(ro.allows(Action::Get, "x", "y"));
        assert!(!ro.allows(Action::Sync, "x", "y"));
        assert!(!Grants::compile(&who(&["nobody"]), [&p]).allows(Action::Get, "prod", "a"));
    }

    #[test]
    fn globs_match_stars_anywhere() {
        assert!(glob_match("prod/*", "prod/a"));
        assert!(glob_match("*", ""));
        assert!(glob_match("p*d/a*c", "prod/abc"));
        assert!(!glob_match("prod/a*c", "prod/abd"));
        assert!(!glob_match("prod/a", "prod/ab"));
        assert!(!glob_match("a*a", "a"));
    }

    #[test]
    fn malformed_lines_name_the_project_and_role() {
        let e = parse_line("prod", "r", "p, x, applications").unwrap_err();
        assert!(e.to_string().contains("AppProject prod: role r"), "{e}");
    }
}
