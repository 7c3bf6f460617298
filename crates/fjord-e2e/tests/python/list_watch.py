"""The Python `kubernetes` client against Fjord: list and watch.

Usage: list_watch.py KUBECONFIG NAMESPACE
Prints one line per check and exits non-zero on the first failure.
"""
import sys
import threading

from kubernetes import client, config, watch

config.load_kube_config(config_file=sys.argv[1])
ns = sys.argv[2]
core = client.CoreV1Api()

names = [n.metadata.name for n in core.list_namespace().items]
assert "default" in names and ns in names, names
print("list namespaces ok")

core.create_namespaced_config_map(ns, {"metadata": {"name": "py-1"}, "data": {"a": "1"}})
cms = core.list_namespaced_config_map(ns)
assert [c.metadata.name for c in cms.items] == ["py-1"], cms.items
rv = cms.metadata.resource_version
assert rv, "a list carries its resourceVersion"
print("list configmaps ok")

seen = []
def change():
    core.create_namespaced_config_map(ns, {"metadata": {"name": "py-2"}})
    core.patch_namespaced_config_map("py-2", ns, {"metadata": {"labels": {"x": "y"}}})
    core.delete_namespaced_config_map("py-2", ns)

w = watch.Watch()
timer = threading.Timer(0.5, change)
timer.start()
for event in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=20):
    seen.append((event["type"], event["object"].metadata.name))
    if event["type"] == "DELETED":
        w.stop()
assert seen == [("ADDED", "py-2"), ("MODIFIED", "py-2"), ("DELETED", "py-2")], seen
print("watch ok")
