//! jq programs (jaq): compiled from a filter's text, run on one JSON document.
//!
//! Both steps read input nobody here controls (an admin's filter, a client's or a backend's body),
//! so both are bounded: the text in size, its compilation on a thread of its own with a large
//! stack (jaq's parser recurses with the filter's nesting), the document in size and depth (read
//! by serde_json, which refuses nesting past 128 levels), and the output in size. What a filter
//! does with its time and memory is bounded by the worker process it runs in (`pool`).

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;

/// The longest filter text compiled.
pub const MAX_FILTER_BYTES: usize = 64 << 10;
/// The stack a compilation runs on: reserved, not committed, so only what the parser's
/// recursion touches costs memory.
const COMPILE_STACK: usize = 256 << 20;

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

/// A compiled filter.
pub struct Program(Filter);

/// Why a document could not go through a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The input is not one JSON document within the limits.
    Input(String),
    /// The filter raised an error (`error`, `.a` on an array, ...).
    Filter(String),
    /// The output is larger than the caller reads.
    OutputTooLarge,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Input(e) => write!(f, "the body is not JSON: {e}"),
            RunError::Filter(e) => write!(f, "the filter failed: {e}"),
            RunError::OutputTooLarge => f.write_str("the filter's output is too large"),
        }
    }
}

impl Program {
    /// Compiles `code`; the error says why it does not parse or compile.
    pub fn compile(code: &str) -> Result<Program, String> {
        if code.len() > MAX_FILTER_BYTES {
            return Err(format!("longer than {MAX_FILTER_BYTES} bytes"));
        }
        let code = code.to_string();
        std::thread::Builder::new()
            .name("jq-compile".into())
            .stack_size(COMPILE_STACK)
            .spawn(move || compile_here(&code))
            .map_err(|e| format!("cannot start its compilation: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("its compilation failed".into()))
    }

    /// Runs the program on the JSON document `input`: its output, one value as JSON, several as
    /// a JSON array of them, none as `null`; at most `max_output` bytes.
    pub fn run(&self, input: &[u8], max_output: usize) -> Result<Vec<u8>, RunError> {
        let input: Val =
            serde_json::from_slice(input).map_err(|e| RunError::Input(e.to_string()))?;
        use std::fmt::Write;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.0.lut, Vars::new([]));
        let mut text = String::new();
        let mut values = 0;
        for v in self.0.id.run((ctx, input)).map(unwrap_valr) {
            let v = v.map_err(|e| RunError::Filter(e.to_string()))?;
            if values > 0 {
                text.push(',');
            }
            let _ = write!(text, "{v}");
            values += 1;
            if text.len() + 2 > max_output {
                return Err(RunError::OutputTooLarge);
            }
        }
        Ok(match values {
            0 => b"null".to_vec(),
            1 => text.into_bytes(),
            _ => format!("[{text}]").into_bytes(),
        })
    }
}

fn compile_here(code: &str) -> Result<Program, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| format!("does not parse ({} error(s))", errs.len()))?;
    let filter = jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| format!("does not compile ({} error(s))", errs.len()))?;
    Ok(Program(filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(filter: &str, input: &str) -> Result<String, RunError> {
        let out = Program::compile(filter)
            .unwrap()
            .run(input.as_bytes(), 1 << 20)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn filters_transform_documents() {
        assert_eq!(
            run(
                "{name: .user.name, n: (.items | length)}",
                r#"{"user": {"name": "alice"}, "items": [1, 2, 3]}"#
            )
            .unwrap(),
            r#"{"name":"alice","n":3}"#
        );
        assert_eq!(run(".[]", "[1,2]").unwrap(), "[1,2]");
        assert_eq!(run("empty", "1").unwrap(), "null");
        assert!(Program::compile(".[").is_err());
        assert!(Program::compile("nosuchfunction").is_err());
    }

    #[test]
    fn failures_say_whose_they_are() {
        assert!(matches!(run(".", "not json"), Err(RunError::Input(_))));
        assert!(matches!(
            run(".a.b", r#"{"a": 1}"#),
            Err(RunError::Filter(_))
        ));
        // jaq's objects take keys of any type, so a number indexes an object to `null` where jq
        // raises "Cannot index object with number": the README says so.
        assert_eq!(run(".[0]", r#"{"a": 1}"#).unwrap(), "null");
        assert!(matches!(
            run("error(\"no\")", "1"),
            Err(RunError::Filter(_))
        ));
        assert_eq!(
            Program::compile("[range(1000)]").unwrap().run(b"null", 100),
            Err(RunError::OutputTooLarge)
        );
    }

    #[test]
    fn deep_documents_are_refused_not_recursed_into() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(run(".", &deep), Err(RunError::Input(_))));
        let within = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(run(".", &within).unwrap(), within);
    }

    #[test]
    fn deep_or_long_filters_are_refused_or_compiled_without_overflow() {
        assert!(Program::compile(&".".repeat(MAX_FILTER_BYTES + 1)).is_err());
        for nest in ["(", "[", "{a:", "-", "if . then ", "1 as $x | ", "\"\\("] {
            let text = nest.repeat(MAX_FILTER_BYTES / nest.len());
            assert!(Program::compile(&text).is_err(), "{nest}");
        }
    }
}
