//! The reconcile raw leg's ordered read against a real nats-server: every message exactly once
//! and in stream order, through a consumer deleted under it and a server restart, and no
//! consumer left behind.

use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream;
use iotctl::backend::nats::ordered_read::OrderedRead;

use crate::harness::nats::TestNats;

/// Messages published before, and again after, the consumer is disturbed.
const HALF: u64 = 1_500;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A file-backed stream `T` with subjects `t.>`.
async fn empty_stream(nats: &TestNats) -> (async_nats::Client, stream::Stream) {
    let client = async_nats::connect(&nats.url).await.unwrap();
    let stream = async_nats::jetstream::new(client.clone())
        .create_stream(stream::Config {
            name: "T".into(),
            subjects: vec!["t.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    (client, stream)
}

/// Publishes messages `from..=to` (the payload is the number), odd ones on `t.a`, even on `t.b`.
async fn publish(client: &async_nats::Client, from: u64, to: u64) {
    let js = async_nats::jetstream::new(client.clone());
    let mut acks = Vec::new();
    for i in from..=to {
        let subject = if i % 2 == 1 { "t.a" } else { "t.b" };
        acks.push(js.publish(subject, i.to_string().into()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

async fn consumer_count(stream: &mut stream::Stream) -> usize {
    stream.info().await.unwrap().state.consumer_count
}

/// Reads until the consumer has nothing pending, retrying errors as the reconcile reader does;
/// returns the (stream sequence, payload number, subject) of each delivery.
async fn read_until_caught_up(read: &mut OrderedRead) -> Vec<(u64, u64, String)> {
    let mut seen = Vec::new();
    loop {
        let delivery = match read.next().await {
            Ok(delivery) => delivery,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let number = std::str::from_utf8(&delivery.payload).unwrap().parse().unwrap();
        seen.push((delivery.stream_sequence, number, delivery.subject.to_string()));
        if delivery.pending == 0 {
            return seen;
        }
    }
}

/// A read of the whole stream from its start (or of `filter`), with a short heartbeat so a
/// lost consumer is noticed within a second.
async fn start_read(client: async_nats::Client, stream: &stream::Stream, filter: &str) -> OrderedRead {
    OrderedRead::start(
        client,
        stream.clone(),
        filter,
        DeliverPolicy::All,
        Duration::from_millis(300),
    )
    .await
    .unwrap()
}

fn subject_of(i: u64) -> String {
    if i % 2 == 1 { "t.a" } else { "t.b" }.to_string()
}

#[test]
fn ordered_read_delivers_each_message_once_in_order_through_a_deleted_consumer() {
    let nats = TestNats::start();
    runtime().block_on(async {
        let (client, mut stream) = empty_stream(&nats).await;
        publish(&client, 1, HALF).await;
        let mut read = start_read(client.clone(), &stream, "").await;
        let mut seen = read_until_caught_up(&mut read).await;
        // Another operator (or the server's own cleanup) removes the consumer mid-read; what is
        // published after that reaches the reader only through a recreated consumer.
        let first_consumer = read.consumer_name().unwrap().to_string();
        stream.delete_consumer(&first_consumer).await.unwrap();
        publish(&client, HALF + 1, 2 * HALF).await;
        seen.extend(read_until_caught_up(&mut read).await);
        let expected: Vec<(u64, u64, String)> = (1..=2 * HALF).map(|i| (i, i, subject_of(i))).collect();
        assert_eq!(seen, expected, "every message exactly once, in stream order");
        assert!(read.recreated >= 1, "the deleted consumer was recreated");
        assert_ne!(read.consumer_name().unwrap(), first_consumer);
        read.finish().await;
        assert_eq!(consumer_count(&mut stream).await, 0, "finish deletes the consumer");
    });
}

#[test]
fn ordered_read_of_a_filtered_subject_resumes_after_a_server_restart() {
    let mut nats = TestNats::start();
    let runtime = runtime();
    let (client, mut stream, mut read, mut seen) = runtime.block_on(async {
        let (client, stream) = empty_stream(&nats).await;
        publish(&client, 1, HALF).await;
        let mut read = start_read(client.clone(), &stream, "t.a").await;
        let seen = read_until_caught_up(&mut read).await;
        (client, stream, read, seen)
    });
    // The in-memory consumer dies with the server; the stream itself is on disk.
    nats.restart();
    runtime.block_on(async {
        // Publishing needs the client back on the server and the stream recovered from disk.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !matches!(
            tokio::time::timeout(Duration::from_secs(1), stream.info()).await,
            Ok(Ok(_))
        ) {
            assert!(tokio::time::Instant::now() < deadline, "the stream did not come back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        publish(&client, HALF + 1, 2 * HALF).await;
        seen.extend(read_until_caught_up(&mut read).await);
        let expected: Vec<(u64, u64, String)> = (1..=2 * HALF)
            .filter(|i| i % 2 == 1)
            .map(|i| (i, i, subject_of(i)))
            .collect();
        assert_eq!(seen, expected, "only t.a, each once, in order, across the restart");
        assert!(read.recreated >= 1, "the consumer lost in the restart was recreated");
        read.finish().await;
        assert_eq!(consumer_count(&mut stream).await, 0, "finish deletes the consumer");
    });
}

#[test]
fn ordered_read_recovers_from_messages_a_full_subscription_dropped() {
    let nats = TestNats::start();
    runtime().block_on(async {
        let (client, mut stream) = empty_stream(&nats).await;
        publish(&client, 1, 2 * HALF).await;
        // A subscription that holds 32 messages: a slow reader makes the client drop the rest,
        // leaving gaps the read must notice and fill.
        let small = async_nats::ConnectOptions::new()
            .subscription_capacity(32)
            .connect(&nats.url)
            .await
            .unwrap();
        let mut read = start_read(small, &stream, "").await;
        let reading = async {
            let mut seen = Vec::new();
            while seen.len() < (2 * HALF) as usize {
                let delivery = match read.next().await {
                    Ok(delivery) => delivery,
                    Err(_) => continue,
                };
                seen.push(delivery.stream_sequence);
                if seen.len() % 16 == 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
            seen
        };
        let seen = tokio::time::timeout(Duration::from_secs(120), reading)
            .await
            .expect("the read finishes (it neither stalls nor loops)");
        let expected: Vec<u64> = (1..=2 * HALF).collect();
        assert_eq!(seen, expected, "every message exactly once, in stream order");
        assert!(read.recreated >= 1, "dropped messages were fetched again");
        read.finish().await;
        assert_eq!(consumer_count(&mut stream).await, 0);
    });
}
