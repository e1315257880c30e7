//! jq: any text compiles or is refused (never a crash, whatever its nesting), and any body goes
//! through a few fixed filters or is refused as not JSON (nesting past 128 is refused, never
//! recursed into). Arbitrary filters are not run here: what they do with time and memory is
//! bounded by the worker process they run in, not by the parser.
#![no_main]

use komainu_sandbox::jq::Program;
use libfuzzer_sys::fuzz_target;

const FILTERS: [&str; 6] = [".", ".a", "[.[]?]", "keys?", "tostring", "paths?"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick & 0x80 != 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            let _ = Program::compile(text);
        }
        return;
    }
    static PROGRAMS: std::sync::OnceLock<Vec<Program>> = std::sync::OnceLock::new();
    let programs = PROGRAMS.get_or_init(|| {
        FILTERS
            .iter()
            .map(|f| Program::compile(f).expect("a fixed filter compiles"))
            .collect()
    });
    let _ = programs[pick as usize % programs.len()].run(rest, 1 << 20);
});
