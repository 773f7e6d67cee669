//! Building requests by AVP name: values parsed by type, dotted paths into grouped AVPs,
//! description files, and the defaults of `send ccr` and `send uar`.

pub mod defaults;
pub mod describe;
pub mod tree;
pub mod value;

pub use tree::Request;
