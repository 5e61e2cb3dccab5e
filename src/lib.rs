//! kestrel: flags terrorist recruitment and financing signals in user posts.
pub mod indicators;
pub mod normalize;
