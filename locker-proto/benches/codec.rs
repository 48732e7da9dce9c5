//! Encode and decode a 16-channel bulk status frame, side by side with
//! serde_json of the same message and a plain copy of the frame's bytes.
//!
//! Run: `cargo bench -p locker-proto --bench codec`. The README quotes the
//! medians as ratios; absolute times depend on the machine.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use locker_proto::frame::{Decoder, Feed, Flags, Frame, Header, MAX_FRAME, Seq, encode};
use locker_proto::{BulkStatus, ChannelBits, NodeAddr, Report};

fn status_frame() -> Frame<Report> {
    Frame {
        header: Header::new(NodeAddr(3), NodeAddr::GATEWAY, Seq(42), Flags::NONE),
        body: Report::BulkStatus(BulkStatus {
            channels: 16,
            door_open: ChannelBits(0b0000_0000_0010_0001),
            locked: ChannelBits(0xFFDE),
            occupied: ChannelBits(0x3C0F),
            faulted: ChannelBits(0x0100),
        }),
    }
}

/// The frame's fields as a JSON object.
#[derive(serde::Serialize, serde::Deserialize)]
struct JsonFrame {
    src: u8,
    dst: u8,
    seq: u8,
    flags: u8,
    body: Report,
}

impl From<&Frame<Report>> for JsonFrame {
    fn from(frame: &Frame<Report>) -> Self {
        JsonFrame {
            src: frame.header.src.0,
            dst: frame.header.dst.0,
            seq: frame.header.seq.0,
            flags: frame.header.flags.bits(),
            body: frame.body.clone(),
        }
    }
}

fn codec(c: &mut Criterion) {
    let frame = status_frame();
    let mut group = c.benchmark_group("bulk_status_16ch");

    group.bench_function("locker_frame_encode_decode", |b| {
        let mut buf = [0u8; MAX_FRAME];
        let mut decoder = Decoder::new();
        b.iter(|| {
            let bytes = encode(black_box(&frame), &mut buf).unwrap();
            match decoder.feed::<Report>(black_box(bytes)) {
                Feed::Frame { frame, .. } => black_box(frame),
                _ => unreachable!(),
            }
        })
    });

    group.bench_function("locker_frame_encode_only", |b| {
        let mut buf = [0u8; MAX_FRAME];
        b.iter(|| encode(black_box(&frame), &mut buf).unwrap().len())
    });

    group.bench_function("locker_frame_decode_only", |b| {
        let mut buf = [0u8; MAX_FRAME];
        let wire = encode(&frame, &mut buf).unwrap().to_vec();
        let mut decoder = Decoder::new();
        b.iter(|| match decoder.feed::<Report>(black_box(&wire)) {
            Feed::Frame { frame, .. } => black_box(frame),
            _ => unreachable!(),
        })
    });

    // The floor under the frame codec: postcard alone on the same body, with
    // no header, CRC or COBS.
    group.bench_function("postcard_body_encode_decode", |b| {
        let mut out = [0u8; MAX_FRAME];
        b.iter(|| {
            let used = postcard::to_slice(black_box(&frame.body), &mut out).unwrap();
            let back: Report = postcard::from_bytes(black_box(used)).unwrap();
            black_box(back)
        })
    });

    group.bench_function("serde_json_encode_decode", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            serde_json::to_writer(&mut out, black_box(&frame.body)).unwrap();
            let back: Report = serde_json::from_slice(black_box(&out)).unwrap();
            black_box(back)
        })
    });

    // For comparison only: JSON carrying what the frame carries, header
    // fields and all (a JSON bus would need them too). The target is quoted
    // against the body-only case above.
    group.bench_function("serde_json_whole_frame_encode_decode", |b| {
        let mut out = Vec::with_capacity(256);
        let json = JsonFrame::from(&frame);
        b.iter(|| {
            out.clear();
            serde_json::to_writer(&mut out, black_box(&json)).unwrap();
            let back: JsonFrame = serde_json::from_slice(black_box(&out)).unwrap();
            black_box(back)
        })
    });

    group.bench_function("plain_copy_of_frame_bytes", |b| {
        let mut buf = [0u8; MAX_FRAME];
        let wire = encode(&frame, &mut buf).unwrap().to_vec();
        let mut copy = [0u8; MAX_FRAME];
        b.iter(|| {
            let src = black_box(&wire[..]);
            copy[..src.len()].copy_from_slice(src);
            black_box(&copy);
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
