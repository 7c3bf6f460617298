//! Services: their defaults (type, session affinity, port protocol and target port, traffic
//! policies), and the values the Service registry allocates — `clusterIP`/`clusterIPs` from
//! 10.96.0.0/12, `ipFamilies`, `ipFamilyPolicy` and node ports — which an update that leaves them out
//! keeps (as the real registry's `patchAllocatedValues` does).

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::{child, child_or_insert, each_object, set_default};
use crate::http::error::{ApiError, ApiResult, FieldCause};
use crate::registry::ResourceType;
use crate::store::Store;

/// The service network: 10.96.0.0/12.
const SERVICE_NET: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const SERVICE_NET_BITS: u32 = 12;
/// The node port range.
const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;
/// Where the Service objects live in the store.
const SERVICE_PREFIX: &str = "/services/";

/// Defaults of a Service.
pub fn service(obj: &mut Map<String, Value>) {
    let Some(spec) = child(obj, "spec") else {
        return;
    };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    if spec.get("sessionAffinity") == Some(&json!("ClientIP")) {
        let config = child_or_insert(spec, "sessionAffinityConfig");
        let client_ip = child_or_insert(config, "clientIP");
        set_default(client_ip, "timeoutSeconds", json!(10800));
    }
    each_object(spec, "ports", |p| {
        set_default(p, "protocol", json!("TCP"));
        let unset = match p.get("targetPort") {
            None | Some(Value::Null) => true,
            Some(Value::Number(n)) => n.as_i64() == Some(0),
            Some(Value::String(s)) => s.is_empty(),
            _ => false,
        };
        if unset && let Some(port) = p.get("port").cloned() {
            p.insert("targetPort".into(), port);
        }
    });
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if ty != "ExternalName" {
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    let external_ips = spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if ty == "NodePort" || ty == "LoadBalancer" || (ty == "ClusterIP" && external_ips) {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

/// Hands out cluster IPs in order through the service network, skipping those that Services in the
/// store hold, so an address is never given twice while it is allocated.
#[derive(Default)]
pub struct ServiceAllocator {
    next_ip_offset: Mutex<u32>,
}

impl ServiceAllocator {
    /// Sets the allocated values of a Service being created (`current` None) or updated.
    pub fn allocate(
        &self,
        store: &Store,
        rt: &ResourceType,
        current: Option<&Value>,
        obj: &mut Value,
    ) -> ApiResult<()> {
        let name = crate::object::name(obj).to_string();
        let uid = crate::object::meta_str(obj, "uid").map(str::to_string);
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let ty = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        if ty == "ExternalName" {
            for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                spec.remove(k);
            }
            return Ok(());
        }
        let old_spec = current.and_then(|c| c.get("spec"));
        if let Some(old) = old_spec {
            for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                let missing = spec
                    .get(k)
                    .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
                if missing && let Some(v) = old.get(k) {
                    spec.insert(k.into(), v.clone());
                }
            }
        }
        let (used_ips, used_ports) = in_use(store, uid.as_deref());
        let given = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let ip = match given {
            Some(ip) => {
                // A changed IP is refused as immutable later; only a new one is checked here.
                let newly_set = old_spec
                    .and_then(|o| o.get("clusterIP"))
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if ip != "None" && newly_set {
                    check_requested_ip(rt, &name, &ip, &used_ips)?;
                }
                ip
            }
            None => self.next_ip(&used_ips).ok_or_else(|| {
                ApiError::internal("failed to allocate a service IP: the service network is full")
            })?,
        };
        spec.insert("clusterIP".into(), json!(ip));
        set_default(spec, "clusterIPs", json!([ip]));
        set_default(spec, "ipFamilies", json!(["IPv4"]));
        set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
        if ty == "NodePort"
            || (ty == "LoadBalancer"
                && spec.get("allocateLoadBalancerNodePorts") != Some(&json!(false)))
        {
            allocate_node_ports(rt, &name, spec, old_spec, used_ports)?;
        }
        Ok(())
    }

    fn next_ip(&self, used: &HashSet<u32>) -> Option<String> {
        let size = 1u32 << (32 - SERVICE_NET_BITS);
        let mut next = self
            .next_ip_offset
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // .0 is the network, .1 the `kubernetes` Service of a real cluster, the last the broadcast.
        for _ in 0..size {
            if *next < 2 || *next >= size - 1 {
                *next = 2;
            }
            let candidate = SERVICE_NET + *next;
            *next += 1;
            if !used.contains(&candidate) {
                return Some(Ipv4Addr::from(candidate).to_string());
            }
        }
        None
    }
}

/// Cluster IPs and node ports held by Services other than the one with `uid`.
fn in_use(store: &Store, uid: Option<&str>) -> (HashSet<u32>, HashSet<u64>) {
    let (items, _, _) = store.list(SERVICE_PREFIX, None, None, |o| {
        uid.is_none() || crate::object::meta_str(&o.value, "uid") != uid
    });
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for item in items {
        let spec = item.value.get("spec");
        if let Some(ip) = spec
            .and_then(|s| s.get("clusterIP"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
        {
            ips.insert(u32::from(ip));
        }
        for p in spec
            .and_then(|s| s.get("ports"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(np) = p.get("nodePort").and_then(Value::as_u64) {
                ports.insert(np);
            }
        }
    }
    (ips, ports)
}

fn check_requested_ip(
    rt: &ResourceType,
    name: &str,
    ip: &str,
    used: &HashSet<u32>,
) -> ApiResult<()> {
    let invalid = |why: &str| {
        ApiError::invalid(
            rt,
            name,
            vec![FieldCause::invalid(
                "spec.clusterIPs",
                format!("Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: {why}"),
            )],
        )
    };
    let Ok(addr) = ip.parse::<Ipv4Addr>() else {
        return Err(ApiError::invalid(
            rt,
            name,
            vec![FieldCause::invalid(
                "spec.clusterIPs[0]",
                format!(
                    "Invalid value: \"{ip}\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
                ),
            )],
        ));
    };
    let a = u32::from(addr);
    if a >> (32 - SERVICE_NET_BITS) != SERVICE_NET >> (32 - SERVICE_NET_BITS) {
        return Err(invalid(
            "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12",
        ));
    }
    if used.contains(&a) {
        return Err(invalid("provided IP is already allocated"));
    }
    Ok(())
}

fn allocate_node_ports(
    rt: &ResourceType,
    name: &str,
    spec: &mut Map<String, Value>,
    old_spec: Option<&Value>,
    mut used: HashSet<u64>,
) -> ApiResult<()> {
    let old_ports: Vec<Value> = old_spec
        .and_then(|o| o.get("ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let mut next = *NODE_PORTS.start() as u64;
    for (i, p) in ports.iter_mut().enumerate() {
        let Some(p) = p.as_object_mut() else { continue };
        let given = p
            .get("nodePort")
            .and_then(Value::as_u64)
            .filter(|n| *n != 0);
        let kept = old_ports
            .iter()
            .find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"))
            .and_then(|o| o.get("nodePort"))
            .and_then(Value::as_u64);
        match given {
            Some(n) if Some(n) == kept => {}
            Some(n) => {
                if !NODE_PORTS.contains(&(n as u16)) || n > u16::MAX as u64 {
                    return Err(ApiError::invalid(
                        rt,
                        name,
                        vec![FieldCause::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            format!(
                                "Invalid value: {n}: provided port is not in the valid range. The range of valid ports is 30000-32767"
                            ),
                        )],
                    ));
                }
                if !used.insert(n) {
                    return Err(ApiError::invalid(
                        rt,
                        name,
                        vec![FieldCause::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            format!("Invalid value: {n}: provided port is already allocated"),
                        )],
                    ));
                }
            }
            None => {
                let n = match kept {
                    Some(k) => k,
                    None => {
                        while used.contains(&next) {
                            next += 1;
                        }
                        if next > *NODE_PORTS.end() as u64 {
                            return Err(ApiError::internal(
                                "failed to allocate a node port: the range is full",
                            ));
                        }
                        next
                    }
                };
                used.insert(n);
                p.insert("nodePort".into(), json!(n));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn service_defaults() {
        let mut s = json!({"spec": {"selector": {"app": "web"}, "ports": [
            {"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}]}});
        service(s.as_object_mut().unwrap());
        assert_eq!(
            s["spec"],
            json!({"selector": {"app": "web"}, "type": "ClusterIP", "sessionAffinity": "None",
                   "internalTrafficPolicy": "Cluster",
                   "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80},
                             {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}]})
        );
    }

    #[test]
    fn load_balancer_and_external_name_defaults() {
        let mut lb = json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 443}]}});
        service(lb.as_object_mut().unwrap());
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(
            lb["spec"]["sessionAffinityConfig"],
            json!({"clientIP": {"timeoutSeconds": 10800}})
        );
        let mut en = json!({"spec": {"type": "ExternalName", "externalName": "example.com"}});
        service(en.as_object_mut().unwrap());
        assert_eq!(
            en["spec"],
            json!({"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"})
        );
    }

    fn service_type() -> std::sync::Arc<ResourceType> {
        crate::registry::Registry::new()
            .snapshot()
            .by_kind("", "v1", "Service")
            .unwrap()
    }

    #[tokio::test]
    async fn allocated_values_are_not_reused_and_are_kept_on_update() {
        let store = Store::open(None, Default::default()).unwrap();
        let rt = service_type();
        let alloc = ServiceAllocator::default();
        let mut a = json!({"metadata": {"name": "a", "namespace": "default", "uid": "ua"},
                           "spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        alloc.allocate(&store, &rt, None, &mut a).unwrap();
        assert_eq!(a["spec"]["clusterIP"], "10.96.0.2");
        assert_eq!(a["spec"]["clusterIPs"], json!(["10.96.0.2"]));
        assert_eq!(a["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(a["spec"]["ports"][0]["nodePort"], 30000);
        store
            .write(crate::store::Write {
                key: "/services/default/a".into(),
                precondition: crate::store::Precondition::MustNotExist,
                mutation: crate::store::Mutation::Put(a.clone()),
            })
            .await
            .unwrap();

        // A new allocator (a restarted server) skips what is stored.
        let fresh = ServiceAllocator::default();
        let mut b = json!({"metadata": {"name": "b", "namespace": "default", "uid": "ub"},
                           "spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        fresh.allocate(&store, &rt, None, &mut b).unwrap();
        assert_eq!(b["spec"]["clusterIP"], "10.96.0.3");
        assert_eq!(b["spec"]["ports"][0]["nodePort"], 30001);

        // Asking for a taken IP or port is refused.
        let mut c =
            json!({"metadata": {"name": "c", "uid": "uc"}, "spec": {"clusterIP": "10.96.0.2"}});
        let e = fresh.allocate(&store, &rt, None, &mut c).unwrap_err();
        assert!(
            e.message.contains("provided IP is already allocated"),
            "{}",
            e.message
        );
        let mut d =
            json!({"metadata": {"name": "d", "uid": "ud"}, "spec": {"clusterIP": "192.0.2.1"}});
        let e = fresh.allocate(&store, &rt, None, &mut d).unwrap_err();
        assert!(
            e.message.contains("not in the valid range"),
            "{}",
            e.message
        );

        // An update without the allocated values keeps them.
        let mut update = json!({"metadata": {"name": "a", "namespace": "default", "uid": "ua"},
                                "spec": {"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP"}]}});
        fresh.allocate(&store, &rt, Some(&a), &mut update).unwrap();
        assert_eq!(update["spec"]["clusterIP"], "10.96.0.2");
        assert_eq!(update["spec"]["ports"][0]["nodePort"], 30000);
    }

    #[test]
    fn ips_are_handed_out_in_order_and_never_twice() {
        let a = ServiceAllocator::default();
        let mut used = HashSet::new();
        used.insert(u32::from("10.96.0.3".parse::<Ipv4Addr>().unwrap()));
        assert_eq!(a.next_ip(&used).as_deref(), Some("10.96.0.2"));
        assert_eq!(a.next_ip(&used).as_deref(), Some("10.96.0.4"));
    }
}
