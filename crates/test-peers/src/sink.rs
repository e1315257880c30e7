//! An HTTP receiver that keeps every POST it gets: the OTLP/HTTP collector (spans decoded with
//! the OpenTelemetry protobuf types) and the events receiver the tests send to.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// What a sink received: each request's path and body.
pub type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

pub struct Sink {
    pub addr: SocketAddr,
    received: Received,
}

impl Sink {
    /// A sink on a free local port.
    pub fn start() -> Sink {
        Sink::start_on("127.0.0.1:0").expect("a local port")
    }

    /// A sink on `addr` (a port a test held free while the sink was "down").
    pub fn start_on(addr: &str) -> std::io::Result<Sink> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let received: Received = Arc::default();
        let r = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let r = r.clone();
                std::thread::spawn(move || serve(stream, r));
            }
        });
        Ok(Sink { addr, received })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.received.lock().unwrap().clone()
    }

    /// Every span of every OTLP/HTTP protobuf export received.
    pub fn spans(&self) -> Vec<Span> {
        self.received()
            .iter()
            .filter(|(path, _)| path == "/v1/traces")
            .filter_map(|(_, body)| ExportTraceServiceRequest::decode(body.as_slice()).ok())
            .flat_map(|req| req.resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }
}

/// HTTP/1.1 requests on one connection, kept alive, bodies sized by `Content-Length`.
fn serve(stream: TcpStream, received: Received) {
    let mut out = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        received.lock().unwrap().push((path, body));
        if out
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}
