//! `batch_lines` with the allocator the denyctl binary uses (mimalloc).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("batch_lines.rs");
