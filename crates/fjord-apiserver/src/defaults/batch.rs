//! Defaults of `batch/v1` Jobs and CronJobs (Kubernetes `pkg/apis/batch/v1/defaults.go`), and the
//! selector and labels the Job registry generates from the Job's uid when it is created.

use serde_json::{Map, Value, json};

use super::{child, child_or_insert, pod, set_default};

/// Job: one completion, one pod at a time, six retries, non-indexed, not suspended.
pub fn job(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    if spec.get("completions").is_none_or(Value::is_null)
        && spec.get("parallelism").is_none_or(Value::is_null)
    {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    let replacement = if spec.get("podFailurePolicy").is_some_and(|p| !p.is_null()) {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set_default(spec, "podReplacementPolicy", json!(replacement));
    if let Some(t) = child(spec, "template") {
        pod::template(t);
    }
}

/// CronJob: concurrent runs allowed, not suspended, three successful and one failed Job kept.
/// The Job template gets pod template defaults only (Job defaults apply to Jobs).
pub fn cron_job(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    set_default(spec, "concurrencyPolicy", json!("Allow"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(jt) = child(spec, "jobTemplate")
        && let Some(js) = child(jt, "spec")
        && let Some(t) = child(js, "template")
    {
        pod::template(t);
    }
}

/// What the Job registry sets on create, unless `spec.manualSelector` is true: a selector on the
/// Job's uid and the matching labels on its pod template.
pub fn generate_job_selector(obj: &mut Map<String, Value>, uid: &str, name: &str) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    if spec.get("manualSelector") == Some(&json!(true)) {
        return;
    }
    spec.insert(
        "selector".into(),
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
    );
    let template = child_or_insert(spec, "template");
    let meta = child_or_insert(template, "metadata");
    let labels = child_or_insert(meta, "labels");
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("job-name", name),
    ] {
        labels.insert(k.into(), json!(v));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn job_defaults_and_generated_selector() {
        let mut j = json!({"spec": {"template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "run", "image": "busybox:1.36"}],
        }}}});
        let m = j.as_object_mut().unwrap();
        job(m);
        generate_job_selector(m, "1234", "migrate");
        let spec = &j["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            spec["selector"],
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}})
        );
        assert_eq!(
            spec["template"]["metadata"]["labels"],
            json!({"batch.kubernetes.io/controller-uid": "1234", "batch.kubernetes.io/job-name": "migrate",
                   "controller-uid": "1234", "job-name": "migrate"})
        );
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
        assert_eq!(spec["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    }

    #[test]
    fn parallelism_alone_leaves_completions_unset() {
        let mut j = json!({"spec": {"parallelism": 3}});
        job(j.as_object_mut().unwrap());
        assert_eq!(j["spec"]["parallelism"], 3);
        assert!(j["spec"].get("completions").is_none());
    }

    #[test]
    fn manual_selector_is_kept() {
        let mut j =
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        generate_job_selector(j.as_object_mut().unwrap(), "u", "n");
        assert_eq!(j["spec"]["selector"], json!({"matchLabels": {"a": "b"}}));
    }

    #[test]
    fn cron_job_defaults() {
        let mut c = json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        cron_job(c.as_object_mut().unwrap());
        assert_eq!(c["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(c["spec"]["suspend"], false);
        assert_eq!(c["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(c["spec"]["failedJobsHistoryLimit"], 1);
        let js = &c["spec"]["jobTemplate"]["spec"];
        assert!(js.get("backoffLimit").is_none());
        assert_eq!(
            js["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
    }
}
