//! Codec micro-benchmarks: Phoenix V2 text and binary frames, the MessagePack chunk.
//! `cargo bench -p taina-protocol --bench codecs`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use std::hint::black_box;
use taina_protocol::chunk::Chunk;
use taina_protocol::phoenix;

fn text(c: &mut Criterion) {
    let payload = json!({ "id": "V1StGXR8_Z5jdHi6B-myT", "body": "olá, tudo bem?", "offset": 42, "epoch": "k3Jq9zX1" });
    let frame = phoenix::encode_text(
        Some("5"),
        Some("7"),
        "conversation:V1StGXR8_Z5jdHi6B-myT",
        "new_msg",
        &payload,
    );
    let mut group = c.benchmark_group("phoenix text");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            phoenix::encode_text(
                Some("5"),
                Some("7"),
                black_box("conversation:V1StGXR8_Z5jdHi6B-myT"),
                "new_msg",
                black_box(&payload),
            )
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| phoenix::decode_text(black_box(&frame)).unwrap())
    });
    group.finish();
}

fn binary(c: &mut Criterion) {
    let data = vec![7u8; 64 * 1024];
    let client_frame =
        phoenix::encode_client_binary(Some("5"), Some("9"), "upload:42", "chunk", &data).unwrap();
    let mut group = c.benchmark_group("phoenix binary 64 KiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("encode server push", |b| {
        b.iter(|| {
            phoenix::encode_server_push(Some("5"), "stream:42", "data", black_box(&data)).unwrap()
        })
    });
    group.bench_function("decode client push", |b| {
        b.iter(|| phoenix::decode_client_binary(black_box(&client_frame)).unwrap())
    });
    group.finish();
}

fn chunk(c: &mut Criterion) {
    let chunk = Chunk {
        offset: 1 << 20,
        data: vec![3u8; 64 * 1024],
    };
    let encoded = chunk.encode();
    let mut group = c.benchmark_group("messagepack chunk 64 KiB");
    group.throughput(Throughput::Bytes(chunk.data.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(&chunk).encode()));
    group.bench_function("decode", |b| {
        b.iter(|| Chunk::decode(black_box(&encoded)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, text, binary, chunk);
criterion_main!(benches);
