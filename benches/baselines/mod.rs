//! Baselines shared by the benches: a bare ractor actor that counts, and
//! a raw TCP echo in a process of its own.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::BufRead;

use ractor::{Actor, ActorProcessingErr, ActorRef, Message as RactorMessage, RpcReplyPort};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A bare ractor actor doing what the counter
/// (`support::CounterMsg`) does.
pub enum BareMsg {
    Add(u64, RpcReplyPort<u64>),
    Inc(u64),
}
impl RactorMessage for BareMsg {}

pub struct Bare;
impl Actor for Bare {
    type Msg = BareMsg;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<BareMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }
    async fn handle(
        &self,
        _: ActorRef<BareMsg>,
        msg: BareMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BareMsg::Add(k, reply) => {
                *n += k;
                let _ = reply.send(*n);
            }
            BareMsg::Inc(k) => *n += k,
        }
        Ok(())
    }
}

/// The raw TCP baseline's other end, in its own process (`--tcp-echo`):
/// prints its port, then echoes fixed-size frames to each connection.
pub async fn tcp_echo() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("{}", listener.local_addr().expect("addr").port());
    loop {
        let (mut s, _) = listener.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        tokio::spawn(async move {
            let mut buf = [0u8; FRAME];
            while s.read_exact(&mut buf).await.is_ok() {
                if s.write_all(&buf).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Bytes of the TCP baseline's frame: about an encoded, sealed ask.
pub const FRAME: usize = 96;

pub fn start_tcp_echo() -> (std::process::Child, u16) {
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .arg("--tcp-echo")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("echo process");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("echo port");
    (child, line.trim().parse().expect("a port"))
}
