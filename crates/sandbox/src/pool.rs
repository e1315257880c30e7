//! The gateway's side: a few worker processes, started when first needed, each doing one job at
//! a time. A job that runs past its time, or whose worker grows past its memory, has that worker
//! killed (and another started for the next job); a worker that dies (a stack overflow, an
//! allocation failure) fails only the job it was doing. Jobs wait in a bounded queue; past it they
//! are refused at once. Requests never wait on anything but their own job.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::time::Instant;

use crate::wire::{self, Status};

/// What bounds the sandbox's work, each a command-line flag.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long one job may run.
    pub timeout: Duration,
    /// Resident memory a worker may reach (bytes).
    pub max_memory: u64,
    /// Worker processes at most.
    pub workers: usize,
    /// Bytes of a job's output at most.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(1),
            max_memory: 256 << 20,
            workers: 2,
            max_output: 16 << 20,
        }
    }
}

/// Jobs waiting for a worker at most.
const QUEUE: usize = 1024;
/// How often a running job's worker has its memory read.
const MEMORY_CHECK: Duration = Duration::from_millis(10);

/// Why a job gave no output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The input is not a JSON document within the limits.
    BadInput(String),
    /// The filter failed on the input (its own error).
    Filter(String),
    /// The filter does not compile.
    DoesNotCompile(String),
    OutputTooLarge,
    /// The job ran past its time (or waited past it for a worker).
    Timeout,
    /// The worker grew past its memory.
    Memory,
    /// The worker died, or could not be started or spoken to.
    Crashed(String),
    /// Too many jobs are waiting.
    Busy,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::BadInput(e) | Failure::Filter(e) => f.write_str(e),
            Failure::DoesNotCompile(e) => write!(f, "the filter {e}"),
            Failure::OutputTooLarge => f.write_str("the filter's output is too large"),
            Failure::Timeout => f.write_str("the filter ran out of time"),
            Failure::Memory => f.write_str("the filter ran out of memory"),
            Failure::Crashed(e) => write!(f, "the filter's worker failed: {e}"),
            Failure::Busy => f.write_str("too many transformations are waiting"),
        }
    }
}

struct Job {
    filter: Arc<str>,
    input: Bytes,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<u8>, Failure>>,
}

/// The worker processes and their queue.
pub struct Sandbox {
    jobs: mpsc::Sender<Job>,
    timeout: Duration,
}

/// How to start a worker: this program with these arguments.
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl Sandbox {
    /// Starts the sandbox's tasks on the current runtime; workers start with the first jobs.
    pub fn start(command: WorkerCommand, limits: Limits) -> Arc<Sandbox> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..limits.workers.max(1) {
            tokio::spawn(run_worker(command.clone(), limits.clone(), rx.clone()));
        }
        Arc::new(Sandbox {
            jobs: tx,
            timeout: limits.timeout,
        })
    }

    /// `input` (JSON) through the jq `filter`, in a worker.
    pub async fn jq(&self, filter: Arc<str>, input: Bytes) -> Result<Vec<u8>, Failure> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            filter,
            input,
            deadline: Instant::now() + self.timeout * 2,
            reply,
        };
        self.jobs.try_send(job).map_err(|_| Failure::Busy)?;
        answer
            .await
            .unwrap_or_else(|_| Err(Failure::Crashed("the sandbox stopped".into())))
    }
}

/// A running worker process.
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

fn spawn(command: &WorkerCommand) -> std::io::Result<Worker> {
    let mut child = Command::new(&command.program)
        .args(&command.args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    Ok(Worker {
        child,
        stdin,
        stdout,
    })
}

async fn run_worker(command: WorkerCommand, limits: Limits, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut worker: Option<Worker> = None;
    loop {
        let Some(job) = jobs.lock().await.recv().await else {
            return;
        };
        if Instant::now() >= job.deadline {
            let _ = job.reply.send(Err(Failure::Timeout));
            continue;
        }
        let w = match worker.take() {
            Some(w) => w,
            None => match spawn(&command) {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a jq worker");
                    let _ = job.reply.send(Err(Failure::Crashed(e.to_string())));
                    continue;
                }
            },
        };
        let deadline = job.deadline.min(Instant::now() + limits.timeout);
        let (result, kept) = exchange(w, &job, deadline, &limits).await;
        worker = kept;
        let _ = job.reply.send(result);
    }
}

/// Sends `job` to `w` and reads its answer within `deadline`, watching its memory. The worker
/// comes back when it can take the next job.
async fn exchange(
    mut w: Worker,
    job: &Job,
    deadline: Instant,
    limits: &Limits,
) -> (Result<Vec<u8>, Failure>, Option<Worker>) {
    let frame = wire::jq_job(&job.filter, &job.input);
    let pid = w.child.id();
    let outcome = {
        let Worker {
            child,
            stdin,
            stdout,
        } = &mut w;
        let talk = async {
            stdin.write_all(&(frame.len() as u32).to_le_bytes()).await?;
            stdin.write_all(&frame).await?;
            stdin.flush().await?;
            let mut len = [0u8; 4];
            stdout.read_exact(&mut len).await?;
            let mut answer = vec![0u8; wire::checked_len(len)?];
            stdout.read_exact(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        tokio::pin!(talk);
        let mut check = tokio::time::interval(MEMORY_CHECK);
        loop {
            tokio::select! {
                answer = &mut talk => break answer.map_err(|e| died(child, e)),
                () = tokio::time::sleep_until(deadline) => break Err(Failure::Timeout),
                _ = check.tick() => {
                    if pid.and_then(resident_bytes).is_some_and(|rss| rss > limits.max_memory) {
                        break Err(Failure::Memory);
                    }
                }
            }
        }
    };
    match outcome {
        Ok(answer) => (decode(&answer), Some(w)),
        Err(failure) => {
            if failure != Failure::Timeout && failure != Failure::Memory {
                tracing::warn!(%failure, "a jq worker died");
            } else {
                tracing::info!(%failure, "a jq worker was stopped");
            }
            let _ = w.child.start_kill();
            (Err(failure), None)
        }
    }
}

/// What a worker that could not be spoken to became.
fn died(child: &mut Child, e: std::io::Error) -> Failure {
    match child.try_wait() {
        Ok(Some(status)) => Failure::Crashed(format!("{status}")),
        _ => Failure::Crashed(e.to_string()),
    }
}

fn decode(answer: &[u8]) -> Result<Vec<u8>, Failure> {
    let Some((&status, body)) = answer.split_first() else {
        return Err(Failure::Crashed("an empty answer".into()));
    };
    let text = || String::from_utf8_lossy(body).into_owned();
    match Status::from_byte(status) {
        Some(Status::Ok) => Ok(body.to_vec()),
        Some(Status::BadInput) => Err(Failure::BadInput(text())),
        Some(Status::FilterFailed) => Err(Failure::Filter(text())),
        Some(Status::OutputTooLarge) => Err(Failure::OutputTooLarge),
        Some(Status::DoesNotCompile) => Err(Failure::DoesNotCompile(text())),
        Some(Status::BadJob) | None => Err(Failure::Crashed(text())),
    }
}

/// A process's resident memory, from `/proc` (Linux); `None` elsewhere.
fn resident_bytes(pid: u32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    Some(pages * page)
}
