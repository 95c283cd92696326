//! References on one node: lookups check types and names, asks time out,
//! a dropped request is reported at once, a stopped actor's name is released.

use std::time::{Duration, Instant};

use foundation::prelude::*;

/// Replies to `Echo`, stays silent on `Ignore`, drops the reply on `Drop`.
struct Echo;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum EchoMsg {
    Echo(String),
    Ignore,
    Drop,
}

impl Message for EchoMsg {
    type Reply = String;
    const TAG: &'static str = "test.echo/1";
}

/// A message `Echo` does not answer.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Other(u64);

impl Message for Other {
    type Reply = u64;
    const TAG: &'static str = "test.other/1";
}

impl Actor for Echo {
    type Msg = Request<EchoMsg>;
    type State = Vec<Reply<String>>;
    type Arguments = ();
    async fn pre_start(
        &self,
        _: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(Vec::new())
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        req: Self::Msg,
        held: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (msg, reply) = req.into_parts();
        match msg {
            EchoMsg::Echo(s) => reply.send(s),
            EchoMsg::Ignore => held.push(reply),
            EchoMsg::Drop => drop(reply),
        }
        Ok(())
    }
}

/// A node on its own (each test its own name: names are process-global).
async fn solo(name: &str) -> Node {
    Node::builder()
        .name(name)
        .cookie("c")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn local_lookups_asks_and_their_errors() {
    let node = solo("solo").await;
    // Port 0 picked a real port, and something listens on it.
    assert_ne!(node.addr().port(), 0);
    assert!(std::net::TcpStream::connect(node.addr()).is_ok());
    let (echo, handle) = Actor::spawn(None, Echo, ()).await.unwrap();
    node.register("echo", &echo).await.unwrap();
    assert!(matches!(
        node.register("echo", &echo).await,
        Err(ClusterError::NameTaken { .. })
    ));

    // Several names in one round trip: each answer in its place.
    let names = ["echo".to_owned(), "nobody".to_owned()];
    let found = node.lookup_many(&names).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].as_ref().unwrap().name(), "echo");
    assert!(matches!(&found[1], Err(ClusterError::UnknownName(n)) if n == "nobody"));

    let r = node.lookup("echo").await.unwrap();
    assert_eq!(r.accepts(), [EchoMsg::TAG]);
    assert_eq!(r.node(), None, "local");
    let t = Duration::from_millis(200);
    assert_eq!(r.ask(EchoMsg::Echo("hi".into()), t).await.unwrap(), "hi");

    let started = Instant::now();
    assert!(matches!(
        r.ask(EchoMsg::Ignore, t).await,
        Err(ClusterError::Timeout { .. })
    ));
    assert!(started.elapsed() >= t);
    assert!(matches!(
        r.ask(EchoMsg::Drop, Duration::from_secs(30)).await,
        Err(ClusterError::NoReply { .. })
    ));

    // A message it does not answer: both tags named, and a told one
    // comes back.
    let err = r.ask(Other(1), t).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "`echo` answers `test.echo/1`, not `test.other/1`"
    );
    let back = r.tell(Other(2)).unwrap_err();
    assert!(matches!(back.error, ClusterError::TypeMismatch { .. }));
    assert_eq!(back.msg, Some(Other(2)));
    assert!(matches!(
        node.lookup("nobody").await,
        Err(ClusterError::UnknownName(_))
    ));

    echo.stop(None);
    handle.await.unwrap();
    // The gateway releases the name when the actor stops.
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.lookup("echo").await.is_ok() {
        assert!(Instant::now() < deadline, "name not released");
        tokio::task::yield_now().await;
    }
    assert!(node.names().await.unwrap().is_empty());

    // The old reference follows its name to the actor registered next.
    let (echo, _) = Actor::spawn(None, Echo, ()).await.unwrap();
    node.register("echo", &echo).await.unwrap();
    assert_eq!(
        r.ask(EchoMsg::Echo("again".into()), t).await.unwrap(),
        "again"
    );
    // A pinned one stays with the actor it first found.
    let pinned = node.lookup("echo").await.unwrap().pinned();
    echo.stop(None);
    let (echo, _) = Actor::spawn(None, Echo, ()).await.unwrap();
    while node.register("echo", &echo).await.is_err() {
        assert!(
            Instant::now() < deadline + Duration::from_secs(5),
            "name not released"
        );
        tokio::task::yield_now().await;
    }
    assert!(matches!(
        pinned.ask(EchoMsg::Echo("x".into()), t).await,
        Err(ClusterError::UnknownName(_))
    ));
    assert_eq!(
        r.ask(EchoMsg::Echo("third".into()), t).await.unwrap(),
        "third"
    );

    // Names have a bounded length, refused before anything is sent.
    let long = "n".repeat(actor_cluster::MAX_NAME_BYTES + 1);
    let err = node.register(&long, &echo).await.unwrap_err();
    assert!(matches!(err, ClusterError::InvalidName { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("at most 1024 bytes; this one is 1025 bytes"),
        "{err}"
    );
    assert!(matches!(
        node.register("", &echo).await,
        Err(ClusterError::InvalidName { .. })
    ));
    node.shutdown().await;
}

/// A server answering two message types, each with its own reply type.
#[derive(Default)]
struct Tally {
    total: u64,
    notes: Vec<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Note(String);

impl Message for Note {
    type Reply = usize;
    const TAG: &'static str = "test.note/1";
}

/// Makes the server panic.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Crash;

impl Message for Crash {
    type Reply = ();
    const TAG: &'static str = "test.crash/1";
}

impl Server for Tally {
    fn accepts(accepts: &mut Accepts<Self>) {
        accepts.add::<Other>().add::<Note>().add::<Crash>();
    }
}

impl Handler<Crash> for Tally {
    async fn handle(&mut self, _: Crash) {
        panic!("asked to crash");
    }
}

impl Handler<Other> for Tally {
    async fn handle(&mut self, Other(n): Other) -> u64 {
        self.total += n;
        self.total
    }
}

impl Handler<Note> for Tally {
    async fn handle(&mut self, Note(text): Note) -> usize {
        self.notes.push(text);
        self.notes.len()
    }
}

#[tokio::test]
async fn a_server_answers_each_message_with_its_own_reply_type() {
    let node = solo("server-solo").await;
    let tally = node.serve("tally", Tally::default).await.unwrap();
    assert_eq!(tally.accepts(), [Other::TAG, Note::TAG, Crash::TAG]);
    let t = Duration::from_secs(1);
    let total: u64 = tally.ask(Other(3), t).await.unwrap();
    assert_eq!(total, 3);
    let notes: usize = tally.ask(Note("first".into()), t).await.unwrap();
    assert_eq!(notes, 1);
    tally.tell(Other(4)).unwrap();
    assert_eq!(tally.ask(Other(0), t).await.unwrap(), 7);
    // What it does not answer is refused with both sides' tags.
    assert_eq!(
        tally
            .ask(EchoMsg::Echo("x".into()), t)
            .await
            .unwrap_err()
            .to_string(),
        "`tally` answers `test.other/1`, `test.note/1`, `test.crash/1`, not `test.echo/1`"
    );
    // The name is the server's: a second one is refused with the typed error.
    assert!(matches!(
        node.serve("tally", Tally::default).await,
        Err(ClusterError::NameTaken { .. })
    ));
    // Looked up by name, the same reference type reaches it.
    let found = node.lookup("tally").await.unwrap();
    assert_eq!(found.ask(Note("second".into()), t).await.unwrap(), 2);

    // A panic fails the server; the node's supervisor restarts it from its
    // factory, registered again, and the same reference reaches it.
    assert!(matches!(
        tally.ask(Crash, t).await,
        Err(ClusterError::NoReply { .. })
    ));
    let deadline = Instant::now() + Duration::from_secs(5);
    let restarted = loop {
        match tally.ask(Other(5), t).await {
            Ok(total) => break total,
            Err(ClusterError::UnknownName(_)) if Instant::now() < deadline => {
                tokio::task::yield_now().await
            }
            Err(e) => panic!("not restarted: {e}"),
        }
    };
    assert_eq!(restarted, 5, "fresh state from the factory");
    node.shutdown().await;
}
