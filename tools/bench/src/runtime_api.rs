//! This is a local Lambda Runtime API (the part a function's runtime client speaks). It notes
//! when the function first asks for work, which ends its INIT, hands it the invocations queued
//! by the harness and times each answer. One emulator serves one process.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot, watch};

/// Says how the function's INIT ended, as the Runtime API saw it.
#[derive(Debug, Clone)]
pub enum Init {
    Running,
    /// The first `GET /next` came, so INIT is over.
    Ready(Instant),
    /// `POST /init/error` came, because the function refused to start.
    Failed(String),
}

/// One invocation's answer.
#[derive(Debug)]
pub struct Answer {
    pub handed: Instant,
    pub answered: Instant,
    pub body: Vec<u8>,
    /// It is true when the answer was reported through `/error` rather than `/response`.
    pub error: bool,
}

impl Answer {
    pub fn latency(&self) -> Duration {
        self.answered - self.handed
    }
}

struct Pending {
    body: Vec<u8>,
    reply: oneshot::Sender<Answer>,
}

struct InFlight {
    handed: Instant,
    reply: oneshot::Sender<Answer>,
}

struct Shared {
    init: watch::Sender<Init>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, InFlight>>,
}

pub struct Emulator {
    addr: SocketAddr,
    init: watch::Receiver<Init>,
    queue: mpsc::UnboundedSender<Pending>,
    server: tokio::task::JoinHandle<()>,
}

impl Emulator {
    pub async fn start() -> std::io::Result<Self> {
        let (queue, receiver) = mpsc::unbounded_channel();
        let (init, init_seen) = watch::channel(Init::Running);
        let shared = Arc::new(Shared {
            init,
            queue: tokio::sync::Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            init: init_seen,
            queue,
            server,
        })
    }

    /// Returns `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an invocation. The answer arrives when the function has replied to it.
    pub fn invoke(&self, body: Vec<u8>) -> oneshot::Receiver<Answer> {
        let (reply, answer) = oneshot::channel();
        let _ = self.queue.send(Pending { body, reply });
        answer
    }

    /// Returns when INIT ended, or why it failed, within `limit`.
    pub async fn ready(&self, limit: Duration) -> Result<Instant, String> {
        let mut seen = self.init.clone();
        let waited = tokio::time::timeout(limit, async {
            loop {
                match &*seen.borrow_and_update() {
                    Init::Ready(at) => return Ok(*at),
                    Init::Failed(why) => return Err(format!("init error: {why}")),
                    Init::Running => {}
                }
                if seen.changed().await.is_err() {
                    return Err("the emulator stopped".to_string());
                }
            }
        })
        .await;
        waited.unwrap_or_else(|_| Err(format!("no GET /next within {limit:?}")))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let now = Instant::now();
    shared.init.send_if_modified(|init| match init {
        Init::Running => {
            *init = Init::Ready(now);
            true
        }
        _ => false,
    });
    let Some(pending) = shared.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let deadline_ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    };
    set("lambda-runtime-aws-request-id", id.clone());
    set("lambda-runtime-deadline-ms", deadline_ms.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-1:000000000000:function:bench".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    shared.in_flight.lock().unwrap().insert(
        id,
        InFlight {
            handed: Instant::now(),
            reply: pending.reply,
        },
    );
    (headers, pending.body).into_response()
}

fn finish(shared: &Shared, id: &str, body: Bytes, error: bool) -> StatusCode {
    let answered = Instant::now();
    match shared.in_flight.lock().unwrap().remove(id) {
        Some(flight) => {
            let _ = flight.reply.send(Answer {
                handed: flight.handed,
                answered,
                body: body.to_vec(),
                error,
            });
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, body, false)
}

async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&shared, &id, body, true)
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let why = String::from_utf8_lossy(&body).into_owned();
    shared.init.send_replace(Init::Failed(why));
    StatusCode::ACCEPTED
}
