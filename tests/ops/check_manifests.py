#!/usr/bin/python3
"""Checks the Grafana provisioning and dashboard and the Kubernetes manifests
(YAML syntax, and that their pieces refer to each other correctly), printing
TAP lines. There is no cluster here: this is what can be known without one.

   check_manifests.py DEPLOY_DIR"""
import glob
import json
import os
import sys

import yaml

deploy = sys.argv[1]
failed = 0


def tap(ok, name, why=""):
    global failed
    print(("ok" if ok else "not ok") + " - " + name)
    if not ok:
        failed += 1
        if why:
            print("#   " + str(why))


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


# Grafana
ds = load_all(os.path.join(deploy, "grafana/provisioning/datasources/prometheus.yml"))[0]
prov = load_all(os.path.join(deploy, "grafana/provisioning/dashboards/ooblex.yml"))[0]
dash = json.load(open(os.path.join(deploy, "grafana/dashboards/ooblex-performance.json")))
uids = {d["uid"] for d in ds["datasources"]}
tap(dash.get("title") == "Ooblex Performance", 'the dashboard is titled "Ooblex Performance"', dash.get("title"))
bad = [p["title"] for p in dash["panels"]
       if not p.get("targets") or p["datasource"]["uid"] not in uids
       or any(not t.get("expr") or t.get("datasource", {}).get("uid") not in uids for t in p["targets"])]
tap(not bad, "every panel queries the provisioned Prometheus datasource", bad)
titles = " ".join(p["title"].lower() for p in dash["panels"])
want = ["frames per second", "latency", "queue", "workers", "drops", "cpu", "memory"]
tap(all(w in titles for w in want), "panels for fps, latency, queue, workers, drops, CPU and memory",
    [w for w in want if w not in titles])
tap(prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards",
    "the dashboard provider reads the folder compose mounts")

# Kubernetes
docs = {}
ok = True
for path in sorted(glob.glob(os.path.join(deploy, "k8s/*.yaml"))):
    try:
        for d in load_all(path):
            docs.setdefault(d["kind"], []).append(d)
    except yaml.YAMLError as e:
        ok = False
        print("#   %s: %s" % (path, e))
tap(ok and docs, "deploy/k8s/*.yaml are valid YAML")
for kind, items in docs.items():
    for d in items:
        if kind == "Kustomization":
            continue
        if not (d.get("apiVersion") and d.get("metadata", {}).get("name")):
            tap(False, "%s has apiVersion and metadata.name" % kind, d)
deployments = {d["metadata"]["name"]: d for d in docs.get("Deployment", [])}
services = {d["metadata"]["name"] for d in docs.get("Service", [])}
good = all(d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
           for d in deployments.values())
tap(good and {"redis", "webrtc", "ml-worker"} <= set(deployments), "redis, webrtc and ml-worker Deployments whose selectors match their pods")
so = docs.get("ScaledObject", [{}])[0]
trig = so.get("spec", {}).get("triggers", [{}])[0]
tap(so.get("apiVersion") == "keda.sh/v1alpha1" and so["spec"]["scaleTargetRef"]["name"] == "ml-worker",
    "a KEDA ScaledObject scales the ml-worker Deployment")
tap(trig.get("type") == "redis" and trig["metadata"].get("listName") == "frames_to_process"
    and trig["metadata"]["address"].split(".")[0] in services and int(trig["metadata"]["listLength"]) > 0,
    "on the length of frames_to_process in the cluster's Redis (KEDA's Redis list scaler)", trig)
# Workers reach Redis over TLS: their pod's stunnel sidecar accepts on the
# port REDIS_URL names and connects to the redis Service's TLS port, which
# leads to the Redis container's --tls-port, with certificates from one Secret.
pod = deployments["ml-worker"]["spec"]["template"]["spec"]
containers = {c["name"]: c for c in pod["containers"]}
env = {e["name"]: e.get("value") for e in containers["ml-worker"]["env"]}
tunnel = containers.get("redis-tunnel", {})
tenv = {e["name"]: e.get("value") for e in tunnel.get("env", [])}
url = env.get("REDIS_URL", "")
tap(tunnel.get("command") == ["/usr/share/ooblex/tls/redis-tunnel.sh"] and
    url == "redis://" + tenv.get("OOBLEX_TUNNEL_ACCEPT", "?") and tenv.get("OOBLEX_TUNNEL_ACCEPT", "").startswith("127.0.0.1:"),
    "workers reach Redis through their pod's TLS sidecar, on the pod's loopback", (url, tenv))
svc = {d["metadata"]["name"]: d for d in docs.get("Service", [])}
host, _, tport = tenv.get("OOBLEX_TUNNEL_CONNECT", "").rpartition(":")
redis_pod = deployments["redis"]["spec"]["template"]["spec"]
rc = redis_pod["containers"][0]
args = rc.get("args", [])
named = {p.get("name"): p["containerPort"] for p in rc.get("ports", [])}
sport = [p for p in svc.get(host.split(".")[0], {}).get("spec", {}).get("ports", []) if str(p["port"]) == tport]
tls_port = args[args.index("--tls-port") + 1] if "--tls-port" in args else None
tap(host.split(".")[0] in services and sport and named.get(sport[0]["targetPort"]) == int(tls_port or -1),
    "the sidecar connects to the redis Service's TLS port, which is Redis' --tls-port",
    (tenv.get("OOBLEX_TUNNEL_CONNECT"), tls_port, sport))
tap("--tls-auth-clients" in args and args[args.index("--tls-auth-clients") + 1] == "yes",
    "Redis requires client certificates on its TLS port", args)
def secret_of(spec, container, path):
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    vols = {v["name"]: v.get("secret", {}).get("secretName") for v in spec.get("volumes", [])}
    return next((vols.get(n) for n, m in mounts.items() if m == path), None)
tap(secret_of(redis_pod, rc, "/tls") == secret_of(pod, tunnel, "/etc/ooblex/tls") == "ooblex-redis-tls" and
    all(a.startswith("/tls/") for a in (args[args.index(k) + 1] for k in ("--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file"))),
    "Redis and the sidecars take their certificates from the Secret ooblex-redis-tls")
kust = docs.get("Kustomization", [{}])[0]
files = {os.path.basename(p) for p in glob.glob(os.path.join(deploy, "k8s/*.yaml"))} - {"kustomization.yaml"}
tap(set(kust.get("resources", [])) == files, "kustomization.yaml lists every manifest", kust.get("resources"))
sys.exit(1 if failed else 0)
