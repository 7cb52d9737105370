//! A small fault-injecting HTTP proxy in front of moto server: it counts every AWS call by action and
//! can throttle, fail (5xx), delay or drop chosen actions, or change the world right before one. One request per connection, `Connection:
//! close` both ways, which the SDK's client handles like any server that closes idle connections.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The service's throttling error (`RequestLimitExceeded`, `Throttling`, `ThrottlingException`).
    Throttle,
    /// HTTP 500 with the service's internal-error shape.
    ServerError,
    /// HTTP 403 `AccessDenied`, as STS answers when a role is missing or does not trust the caller.
    Deny,
    /// Wait this long before forwarding.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
}

#[derive(Debug, Clone)]
struct Rule {
    action: String,
    fault: Fault,
    /// Let this many matching calls through first.
    skip: usize,
    /// Fault this many calls, then stop; `None` for every call.
    times: Option<usize>,
    /// 0..=100: fault only this share of matching calls (by a deterministic counter).
    percent: u8,
    seen: usize,
}

/// What a test does to the world right before a call reaches it (another actor's change, between two of
/// Firebreak's calls).
pub type Hook = Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>;

#[derive(Default)]
struct Shared {
    rules: Vec<Rule>,
    /// Run once, before the first call of their action is forwarded.
    hooks: Vec<(String, Hook)>,
    calls: BTreeMap<String, usize>,
    faulted: BTreeMap<String, usize>,
    /// Every action in the order the proxy received it.
    order: Vec<String>,
}

pub struct FaultProxy {
    pub endpoint: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(handle(client, upstream.clone(), state.clone()));
            }
        });
        Self { endpoint, shared, task }
    }

    /// Fault `times` calls of `action` (all when `None`) after letting `skip` through.
    pub fn inject(&self, action: &str, fault: Fault, skip: usize, times: Option<usize>) {
        self.rule(action, fault, skip, times, 100);
    }

    /// Fault `percent` % of the calls of `action` (`*` for every action), spread evenly.
    pub fn inject_rate(&self, action: &str, fault: Fault, percent: u8) {
        self.rule(action, fault, 0, None, percent);
    }

    fn rule(&self, action: &str, fault: Fault, skip: usize, times: Option<usize>, percent: u8) {
        let mut shared = self.shared.lock().expect("lock");
        shared.rules.push(Rule { action: action.to_owned(), fault, skip, times, percent, seen: 0 });
    }

    /// Run `hook` once, right before the first call of `action` is forwarded.
    pub fn before(&self, action: &str, hook: Hook) {
        self.shared.lock().expect("lock").hooks.push((action.to_owned(), hook));
    }

    pub fn clear(&self) {
        self.shared.lock().expect("lock").rules.clear();
    }

    /// Calls that reached the proxy for `action`, faulted or not.
    pub fn calls(&self, action: &str) -> usize {
        self.shared.lock().expect("lock").calls.get(action).copied().unwrap_or(0)
    }

    pub fn faulted(&self, action: &str) -> usize {
        self.shared.lock().expect("lock").faulted.get(action).copied().unwrap_or(0)
    }

    pub fn all_calls(&self) -> BTreeMap<String, usize> {
        self.shared.lock().expect("lock").calls.clone()
    }

    /// Where `action` was first received among all calls, if it was.
    pub fn first(&self, action: &str) -> Option<usize> {
        self.shared.lock().expect("lock").order.iter().position(|a| a == action)
    }

    /// Where `action` was last received among all calls, if it was.
    pub fn last(&self, action: &str) -> Option<usize> {
        self.shared.lock().expect("lock").order.iter().rposition(|a| a == action)
    }

    /// How many calls of `action` were received before the call at `index` (see [`Self::first`]).
    pub fn calls_before(&self, action: &str, index: usize) -> usize {
        self.shared.lock().expect("lock").order.iter().take(index).filter(|a| *a == action).count()
    }
}

/// Which fault, if any, applies to this call; counts it.
fn decide(shared: &Mutex<Shared>, action: &str) -> Option<Fault> {
    let mut shared = shared.lock().expect("lock");
    *shared.calls.entry(action.to_owned()).or_default() += 1;
    shared.order.push(action.to_owned());
    let mut chosen = None;
    for rule in shared.rules.iter_mut().filter(|r| r.action == action || r.action == "*") {
        rule.seen += 1;
        if rule.seen <= rule.skip {
            continue;
        }
        let nth = rule.seen - rule.skip;
        if rule.times.is_some_and(|t| nth > t) {
            continue;
        }
        // Evenly spread: the call faults when it crosses a multiple of 100/percent.
        let hit = rule.percent >= 100
            || (nth * usize::from(rule.percent)) / 100 != ((nth - 1) * usize::from(rule.percent)) / 100;
        if hit {
            chosen = Some(rule.fault);
            break;
        }
    }
    if chosen.is_some() {
        *shared.faulted.entry(action.to_owned()).or_default() += 1;
    }
    chosen
}

async fn read_request(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some((head, buffer[head_end..].to_vec()))
}

/// The AWS action of a request: `Action=` of the query protocols, the `X-Amz-Target` operation, or
/// the `/service/<service>/operation/<operation>` path of the RPC v2 CBOR protocol, or a REST path.
fn action_of(head: &str, body: &[u8]) -> String {
    let path = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or_default();
    if let Some((_, operation)) = path.split_once("/operation/") {
        return operation.to_owned();
    }
    // The REST-JSON operations Firebreak calls, by their documented paths.
    if path.starts_with("/detector/") && path.ends_with("/findings/get") {
        return "GetFindings".to_owned();
    }
    if path == "/malware-scan/start" {
        return "StartMalwareScan".to_owned();
    }
    // Security Hub's REST-JSON operations, by their documented paths.
    let security_hub = [
        ("/findings", "GetFindings"),
        ("/findingsv2", "GetFindingsV2"),
        ("/findings/batchupdate", "BatchUpdateFindings"),
        ("/findingsv2/batchupdatev2", "BatchUpdateFindingsV2"),
    ];
    if let Some((_, operation)) = security_hub.iter().find(|(p, _)| path == *p) {
        return (*operation).to_owned();
    }
    if let Some(target) = head.lines().find_map(|l| {
        l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.trim().to_owned())
    }) {
        return target.rsplit('.').next().unwrap_or_default().to_owned();
    }
    let body = String::from_utf8_lossy(body);
    body.split('&').find_map(|p| p.strip_prefix("Action=")).unwrap_or("unknown").to_owned()
}

fn fault_response(head: &str, body: &[u8], fault: Fault) -> Vec<u8> {
    if matches!(action_of(head, body).as_str(), "GetFindings" | "StartMalwareScan") {
        return rest_json_fault(fault);
    }
    let json = head.to_ascii_lowercase().contains("x-amz-target:");
    let ec2 = String::from_utf8_lossy(body).contains("Version=2016-11-15");
    let (status, code) = match (fault, json, ec2) {
        (Fault::Deny, _, _) => ("403 Forbidden", "AccessDenied"),
        (Fault::Throttle, true, _) => ("400 Bad Request", "ThrottlingException"),
        (Fault::Throttle, false, true) => ("503 Service Unavailable", "RequestLimitExceeded"),
        (Fault::Throttle, false, false) => ("400 Bad Request", "Throttling"),
        (_, _, true) => ("500 Internal Server Error", "InternalError"),
        _ => ("500 Internal Server Error", "InternalFailure"),
    };
    let (content_type, payload) = if json {
        (
            "application/x-amz-json-1.0",
            format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"injected by the test proxy"}}"#),
        )
    } else if ec2 {
        ("text/xml", format!("<Response><Errors><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>fault</RequestID></Response>"))
    } else {
        ("text/xml", format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>fault</RequestId></ErrorResponse>"))
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .into_bytes()
}

/// A REST-JSON error as GuardDuty answers it: the code in `x-amzn-ErrorType`, a JSON `message`.
fn rest_json_fault(fault: Fault) -> Vec<u8> {
    let (status, code) = match fault {
        Fault::Deny => ("403 Forbidden", "AccessDeniedException"),
        Fault::Throttle => ("400 Bad Request", "ThrottlingException"),
        _ => ("500 Internal Server Error", "InternalServerErrorException"),
    };
    let payload = r#"{"message":"injected by the test proxy"}"#;
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nx-amzn-ErrorType: {code}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{payload}",
        payload.len()
    )
    .into_bytes()
}

async fn handle(mut client: TcpStream, upstream: String, shared: Arc<Mutex<Shared>>) {
    let Some((head, body)) = read_request(&mut client).await else { return };
    let action = action_of(&head, &body);
    let hook = {
        let mut shared = shared.lock().expect("lock");
        let at = shared.hooks.iter().position(|(a, _)| *a == action);
        at.map(|at| shared.hooks.remove(at).1)
    };
    if let Some(hook) = hook {
        hook().await;
    }
    match decide(&shared, &action) {
        Some(Fault::Drop) => return,
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(fault) => {
            let _ = client.write_all(&fault_response(&head, &body, fault)).await;
            let _ = client.shutdown().await;
            return;
        }
        None => {}
    }
    let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
    let head: String = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        + "Connection: close\r\n\r\n";
    if server.write_all(head.as_bytes()).await.is_err() || server.write_all(&body).await.is_err() {
        return;
    }
    let mut response = Vec::new();
    let _ = server.read_to_end(&mut response).await;
    let _ = client.write_all(&response).await;
    let _ = client.shutdown().await;
}
