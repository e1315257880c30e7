//! Plugin configs as an admin writes them: for every plugin, any JSON config is accepted or
//! refused with the path of what is wrong; never a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(rest) else {
        return;
    };
    let ids: Vec<String> = komainu_plugins::registry::ids().collect();
    let id = &ids[pick as usize % ids.len()];
    let _ = komainu_plugins::registry::check(id, &config);
});
