//! Times the stream translator per frame: `cargo run --release -p ai
//! --example frame_cost` (the figures in `stream.rs`'s docs come from it).
#![allow(missing_docs, clippy::unwrap_used)]

fn main() {
    let openai = b"data: {\"id\":\"chatcmpl-abc123\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_44709d6fcb\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hello\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    let anthropic = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" hello\"}}\n\n";
    let gemini = b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" hello\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":3,\"totalTokenCount\":12},\"modelVersion\":\"gemini-2.5-flash\"}\n\n";
    let cases: [(&str, ai::Kind, &[u8]); 3] = [
        ("openai (passed through)", ai::Kind::OpenAi, openai),
        ("anthropic text_delta", ai::Kind::Anthropic, anthropic),
        ("gemini text chunk", ai::Kind::Gemini, gemini),
    ];
    for (name, kind, frame) in cases {
        let per_feed = 13;
        let input = frame.repeat(per_feed);
        let feeds = 1_000_000 / per_feed;
        let mut best = f64::MAX;
        for _ in 0..5 {
            let mut tr = ai::StreamTranslator::new(kind, "m", "id", 1, false);
            let mut out = Vec::with_capacity(1 << 16);
            let t = std::time::Instant::now();
            for _ in 0..feeds {
                tr.feed(&input, &mut out);
                out.clear();
            }
            best = best.min(t.elapsed().as_nanos() as f64 / (feeds * per_feed) as f64);
        }
        println!("{name}: {best:.0} ns per frame");
    }
}
