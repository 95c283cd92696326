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

impl Actor for Echo {
    type Msg = Request<EchoMsg, String>;
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

#[tokio::test]
async fn local_lookups_asks_and_their_errors() {
    let node = Node::builder()
        .name("solo")
        .cookie("c")
        .listen("127.0.0.1:0".parse().expect("addr"))
        .no_discovery()
        .start()
        .await
        .unwrap();
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
    let found = node.lookup_many::<EchoMsg, String>(&names).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].as_ref().unwrap().name(), "echo");
    assert!(matches!(&found[1], Err(ClusterError::UnknownName(n)) if n == "nobody"));
    let wrong = node.lookup_many::<u64, u64>(&names[..1]).await.unwrap();
    assert!(matches!(&wrong[0], Err(ClusterError::TypeMismatch { .. })));

    let r = node.lookup::<EchoMsg, String>("echo").await.unwrap();
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

    assert!(matches!(
        node.lookup::<u64, u64>("echo").await,
        Err(ClusterError::TypeMismatch { .. })
    ));
    assert!(matches!(
        node.lookup::<EchoMsg, String>("nobody").await,
        Err(ClusterError::UnknownName(_))
    ));

    echo.stop(None);
    handle.await.unwrap();
    // The gateway releases the name when the actor stops.
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.lookup::<EchoMsg, String>("echo").await.is_ok() {
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
    let pinned = node
        .lookup::<EchoMsg, String>("echo")
        .await
        .unwrap()
        .pinned();
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
