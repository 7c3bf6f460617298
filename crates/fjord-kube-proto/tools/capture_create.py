#!/usr/bin/env python3
"""Capture the protobuf request bodies that real kubectl sends for `kubectl create <kind>` (and the
other commands that POST through typed clients: `autoscale`, `auth can-i`, `auth whoami`).

For every case below this script
  1. starts a throwaway HTTP server on 127.0.0.1 that answers legacy discovery just enough for
     kubectl's RESTMapper and records the body of every POST,
  2. runs `kubectl <args>` against it and stores the POST body as testdata/create/<case>.pb,
  3. runs the same command with `-o json --dry-run=client` and stores its output as
     testdata/create/<case>.json (the JSON kubectl would have sent: the expected decode result).

Re-run:  python3 crates/fjord-kube-proto/tools/capture_create.py [/path/to/kubectl [output dir]]
Defaults: /usr/lib/google-cloud-sdk/bin/kubectl.1.33 (sends protobuf since 1.32), testdata/create.
The committed fixtures come from:
  python3 tools/capture_create.py
  python3 tools/capture_create.py /usr/lib/google-cloud-sdk/bin/kubectl.1.32 testdata/create-1.32
"""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "testdata", "create")
KUBECTL = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"

# (group, version, [(plural, kind, namespaced, subresources)])
RESOURCES = [
    ("", "v1", [
        ("namespaces", "Namespace", False, []),
        ("configmaps", "ConfigMap", True, []),
        ("secrets", "Secret", True, []),
        ("services", "Service", True, []),
        ("serviceaccounts", "ServiceAccount", True, [("token", "TokenRequest", "authentication.k8s.io", "v1")]),
        ("resourcequotas", "ResourceQuota", True, []),
        ("pods", "Pod", True, []),
        ("nodes", "Node", False, []),
    ]),
    ("apps", "v1", [("deployments", "Deployment", True, [("scale", "Scale", "autoscaling", "v1")])]),
    ("autoscaling", "v1", [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True, [])]),
    ("authorization.k8s.io", "v1", [
        ("selfsubjectaccessreviews", "SelfSubjectAccessReview", False, []),
        ("selfsubjectrulesreviews", "SelfSubjectRulesReview", False, []),
    ]),
    ("authentication.k8s.io", "v1", [("selfsubjectreviews", "SelfSubjectReview", False, [])]),
    ("batch", "v1", [("jobs", "Job", True, []), ("cronjobs", "CronJob", True, [])]),
    ("rbac.authorization.k8s.io", "v1", [
        ("roles", "Role", True, []),
        ("rolebindings", "RoleBinding", True, []),
        ("clusterroles", "ClusterRole", False, []),
        ("clusterrolebindings", "ClusterRoleBinding", False, []),
    ]),
    ("networking.k8s.io", "v1", [("ingresses", "Ingress", True, [])]),
    ("policy", "v1", [("poddisruptionbudgets", "PodDisruptionBudget", True, [])]),
    ("scheduling.k8s.io", "v1", [("priorityclasses", "PriorityClass", False, [])]),
]

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]

# Objects some commands read first (`create job --from=cronjob/...`, `autoscale deployment ...`).
EXISTING = {
    "/apis/batch/v1/namespaces/demo/cronjobs/nightly": {
        "kind": "CronJob", "apiVersion": "batch/v1",
        "metadata": {"name": "nightly", "namespace": "demo", "uid": "0b7c5b1e-1111-4000-8000-000000000001",
                     "resourceVersion": "7"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {
            "metadata": {"labels": {"team": "ops"}, "annotations": {"note": "from template"}},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "OnFailure",
                     "containers": [{"name": "c", "image": "busybox", "args": ["date"]}]}}}}},
    },
    "/apis/apps/v1/namespaces/demo/deployments/web": {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "namespace": "demo", "uid": "0b7c5b1e-2222-4000-8000-000000000002",
                     "resourceVersion": "3"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    },
}


def resource_list(group, version, resources):
    items = []
    for plural, kind, namespaced, subs in resources:
        items.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                      "kind": kind, "verbs": VERBS})
        for sub, sub_kind, sub_group, sub_version in subs:
            items.append({"name": f"{plural}/{sub}", "singularName": "", "namespaced": namespaced,
                          "group": sub_group, "version": sub_version, "kind": sub_kind, "verbs": ["create"]})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}


def discovery(path):
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
    if path == "/apis":
        groups = []
        for group, version, _ in RESOURCES:
            if group:
                gv = {"groupVersion": f"{group}/{version}", "version": version}
                groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    for group, version, resources in RESOURCES:
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        if path == prefix:
            return resource_list(group, version, resources)
    return None


class Recorder(http.server.BaseHTTPRequestHandler):
    posts = []

    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        found = EXISTING.get(path) or discovery(path)
        if found is None:
            self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404, "message": "not found"})
        else:
            self.reply(200, found)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        Recorder.posts.append((self.path, self.headers.get("Content-Type"), body))
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if parts[-1] == "token":
            self.reply(201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                             "metadata": {"name": parts[-2]},
                             "spec": {"audiences": []},
                             "status": {"token": "captured", "expirationTimestamp": "2026-01-01T00:00:00Z"}})
            return
        # Answer with a minimal object of the right kind so kubectl prints "<kind>/<name> created".
        kind = None
        for group, version, resources in RESOURCES:
            for plural, k, _, _ in resources:
                if plural in parts:
                    kind = (k, f"{group}/{version}" if group else version)
        self.reply(201, {"kind": kind[0] if kind else "Unknown", "apiVersion": kind[1] if kind else "v1",
                         "metadata": {"name": "created"}})


def make_tls(tmp):
    key, crt = os.path.join(tmp, "tls.key"), os.path.join(tmp, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=demo.example"],
                   check=True, capture_output=True)
    return key, crt


def cases(tmp):
    key, crt = make_tls(tmp)
    cfile = os.path.join(tmp, "app.properties")
    with open(cfile, "w") as f:
        f.write("color=blue\nsize=3\n")
    envfile = os.path.join(tmp, "vars.env")
    with open(envfile, "w") as f:
        f.write("# comment\nA=1\nB=two words\n")
    binfile = os.path.join(tmp, "blob.bin")
    with open(binfile, "wb") as f:
        f.write(bytes([0, 1, 2, 0xFF, 0xFE]))
    ns = ["-n", "demo"]
    return [
        ("namespace", ns + ["create", "namespace", "demo"]),
        ("configmap-literal", ns + ["create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=x y"]),
        ("configmap-files", ns + ["create", "configmap", "cfg-files", f"--from-file={cfile}", f"--from-file=blob={binfile}"]),
        ("configmap-envfile-hash", ns + ["create", "configmap", "cfg-env", f"--from-env-file={envfile}", "--append-hash"]),
        ("secret-generic", ns + ["create", "secret", "generic", "sec", "--from-literal=password=s3cr3t", "--type=Opaque"]),
        ("secret-generic-file", ns + ["create", "secret", "generic", "sec-file", f"--from-file={binfile}"]),
        ("secret-tls", ns + ["create", "secret", "tls", "tls", f"--cert={crt}", f"--key={key}"]),
        ("secret-docker-registry", ns + ["create", "secret", "docker-registry", "reg", "--docker-server=reg.example",
                                    "--docker-username=u", "--docker-password=p", "--docker-email=u@example.com"]),
        ("deployment", ns + ["create", "deployment", "web", "--image=nginx:1.27", "--port=80", "--replicas=3"]),
        ("deployment-zero-replicas", ns + ["create", "deployment", "idle", "--image=busybox", "--replicas=0", "--", "sleep", "3600"]),
        ("deployment-multi-image", ns + ["create", "deployment", "multi", "--image=nginx", "--image=redis"]),
        ("service-clusterip", ns + ["create", "service", "clusterip", "svc", "--tcp=80:8080", "--tcp=443:8443"]),
        ("service-clusterip-headless", ns + ["create", "service", "clusterip", "headless", "--clusterip=None"]),
        ("service-nodeport", ns + ["create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080"]),
        ("service-loadbalancer", ns + ["create", "service", "loadbalancer", "lb", "--tcp=80:http"]),
        ("service-externalname", ns + ["create", "service", "externalname", "ext", "--external-name=db.example.com"]),
        ("serviceaccount", ns + ["create", "serviceaccount", "robot"]),
        ("job", ns + ["create", "job", "once", "--image=busybox", "--", "echo", "hi"]),
        ("cronjob", ns + ["create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", "--restart=OnFailure", "--", "date"]),
        ("role", ns + ["create", "role", "reader", "--verb=get,list,watch", "--resource=pods,deployments.apps", "--resource-name=a"]),
        ("rolebinding", ns + ["create", "rolebinding", "rb", "--role=reader", "--user=alice", "--group=devs",
                         "--serviceaccount=demo:robot"]),
        ("clusterrole", ns + ["create", "clusterrole", "cr", "--verb=get", "--resource=nodes", "--non-resource-url=/healthz"]),
        ("clusterrole-aggregation", ["create", "clusterrole", "agg", "--aggregation-rule=rbac.example.com/aggregate=true"]),
        ("clusterrolebinding", ["create", "clusterrolebinding", "crb", "--clusterrole=cr", "--user=bob"]),
        ("ingress", ns + ["create", "ingress", "ing", "--class=nginx", "--rule=foo.example.com/bar*=svc:80,tls=secret1",
                     "--rule=/path=svc2:http", "--default-backend=defsvc:8080", "--annotation=a.example.com/x=y"]),
        ("poddisruptionbudget-min", ns + ["create", "poddisruptionbudget", "pdb", "--selector=app=web", "--min-available=1"]),
        ("poddisruptionbudget-max-percent", ns + ["create", "poddisruptionbudget", "pdb2", "--selector=app=web", "--max-unavailable=25%"]),
        ("priorityclass", ns + ["create", "priorityclass", "high", "--value=1000", "--global-default=true",
                           "--description=important", "--preemption-policy=Never"]),
        ("priorityclass-zero", ["create", "priorityclass", "zero", "--value=0"]),
        ("quota", ns + ["create", "quota", "q", "--hard=cpu=1,memory=1Gi,pods=10,requests.storage=500m",
                   "--scopes=BestEffort"]),
        ("token", ns + ["create", "token", "robot", "--duration=1h", "--audience=api", "--audience=vault",
                        "--bound-object-kind=Pod", "--bound-object-name=web-0", "--bound-object-uid=1234"]),
        ("job-from-cronjob", ns + ["create", "job", "manual", "--from=cronjob/nightly"]),
        ("autoscale", ns + ["autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80"]),
        # Not `create`, but also protobuf POSTs from kubectl >= 1.32 (typed clients):
        ("auth-can-i", ns + ["auth", "can-i", "get", "pods"]),
        ("auth-can-i-list", ns + ["auth", "can-i", "--list"]),
        ("auth-whoami", ["auth", "whoami"]),
    ]


# `kubectl create token` has no --dry-run; its expected JSON is the TokenRequest those flags describe
# (kubectl's pkg/cmd/create/create_token.go fills only spec.audiences, expirationSeconds and
# boundObjectRef; the service account's name and namespace are in the URL, not in the object).
HAND_WRITTEN = {
    "token": {
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"audiences": ["api", "vault"], "expirationSeconds": 3600,
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-0", "uid": "1234"}},
        "status": {"token": "", "expirationTimestamp": None},
    },
    # authorizationv1.SelfSubjectAccessReview{Spec.ResourceAttributes{Namespace, Verb, Resource}};
    # status.allowed has no omitempty.
    "auth-can-i": {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "demo", "verb": "get", "resource": "pods"}},
        "status": {"allowed": False},
    },
    # SelfSubjectRulesReview{Spec.Namespace}; status resourceRules/nonResourceRules/incomplete have no omitempty.
    "auth-can-i-list": {
        "kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"namespace": "demo"},
        "status": {"resourceRules": None, "nonResourceRules": None, "incomplete": False},
    },
    # An empty SelfSubjectReview; status and status.userInfo are structs, so always present.
    "auth-whoami": {
        "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "status": {"userInfo": {}},
    },
}


def main():
    if not shutil.which(KUBECTL) and not os.path.exists(KUBECTL):
        sys.exit(f"kubectl not found: {KUBECTL}")
    os.makedirs(OUT, exist_ok=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, KUBECONFIG=os.path.join(tmp, "none"), HOME=tmp)
    base = [KUBECTL, "--server", url, "--cache-dir", os.path.join(tmp, "cache")]
    manifest = []
    for name, args in cases(tmp):
        Recorder.posts = []
        real = subprocess.run(base + args, capture_output=True, text=True, env=env)
        # `auth can-i` exits 1 for "no" (the stub grants nothing); the POST is what matters.
        if (real.returncode != 0 and not name.startswith("auth-")) or len(Recorder.posts) != 1:
            sys.exit(f"{name}: kubectl failed or sent {len(Recorder.posts)} POSTs: {real.stderr}")
        path, ctype, body = Recorder.posts[0]
        if ctype != "application/vnd.kubernetes.protobuf":
            sys.exit(f"{name}: expected a protobuf body, got Content-Type {ctype}")
        if name in HAND_WRITTEN:
            expected = json.dumps(HAND_WRITTEN[name], indent=4) + "\n"
        else:
            expected = dry_run_json(base, args, env, name)
        with open(os.path.join(OUT, f"{name}.pb"), "wb") as f:
            f.write(body)
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            f.write(expected)
        # The temporary file paths differ per run; record the command shape without them.
        shown = [a.replace(tmp, "$TMP") for a in args]
        manifest.append({"case": name, "kubectl": os.path.basename(KUBECTL), "args": shown, "path": path,
                         "expected": "hand-written" if name in HAND_WRITTEN else "kubectl -o json --dry-run=client"})
        print(f"{name}: {len(body)} bytes -> {path}")
    with open(os.path.join(OUT, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    server.shutdown()
    shutil.rmtree(tmp)


def dry_run_json(base, args, env, name):
    dry_args = args[:]
    if "--" in dry_args:
        i = dry_args.index("--")
        dry_args[i:i] = ["-o", "json", "--dry-run=client"]
    else:
        dry_args += ["-o", "json", "--dry-run=client"]
    dry = subprocess.run(base + dry_args, capture_output=True, text=True, env=env)
    if dry.returncode != 0:
        sys.exit(f"{name}: dry-run failed: {dry.stderr}")
    return dry.stdout


if __name__ == "__main__":
    main()
