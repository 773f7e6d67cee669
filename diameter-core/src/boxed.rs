//! [`Boxed`]: the storage of a grouped member the dictionary boxes (`boxed="true"`).
//!
//! A wide grammar has many optional boxed members and most of them stay absent (an MSCC
//! has eight, Service-Information eleven). The drop of an absent `Option<Box<T>>` is an
//! out-of-line call per member; the drop of an absent `Option<Boxed<T>>` is one inlined
//! comparison. Everything else is the `Box` it stands for: deref to `T`, `From<T>`.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

/// A `Box<T>` whose drop stays out of line, so that the drop of a message with many
/// absent boxed members is inlined. Build one with `Boxed::new(v)` or `v.into()`; read it
/// through deref. Its default is built in place on the heap (`Box::default`); it is cloned,
/// compared, ordered and hashed as the value.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Boxed<T>(ManuallyDrop<Box<T>>);

impl<T> Boxed<T> {
    /// Moves `value` to the heap.
    pub fn new(value: T) -> Self {
        Boxed(ManuallyDrop::new(Box::new(value)))
    }

    /// The `Box`, without a copy.
    pub fn into_box(self) -> Box<T> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the box is moved out once.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }

    /// The value, moved off the heap.
    pub fn into_inner(self) -> T {
        *self.into_box()
    }
}

impl<T> Drop for Boxed<T> {
    #[inline(always)]
    fn drop(&mut self) {
        drop_box(&mut self.0);
    }
}

/// Out of line, so that `Option<Boxed<T>>`'s drop (a test, then this call) is small enough
/// to be inlined into every message's drop.
#[inline(never)]
fn drop_box<T>(b: &mut ManuallyDrop<Box<T>>) {
    // SAFETY: called once, from `Boxed::drop`; the field is not used afterwards.
    unsafe { ManuallyDrop::drop(b) }
}

impl<T> Deref for Boxed<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Boxed<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> AsRef<T> for Boxed<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> AsMut<T> for Boxed<T> {
    fn as_mut(&mut self) -> &mut T {
        self
    }
}

impl<T> std::borrow::Borrow<T> for Boxed<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T> std::borrow::BorrowMut<T> for Boxed<T> {
    fn borrow_mut(&mut self) -> &mut T {
        self
    }
}

impl<T: fmt::Debug> fmt::Debug for Boxed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> From<T> for Boxed<T> {
    fn from(value: T) -> Self {
        Boxed::new(value)
    }
}

impl<T> From<Box<T>> for Boxed<T> {
    fn from(b: Box<T>) -> Self {
        Boxed(ManuallyDrop::new(b))
    }
}

#[cfg(test)]
mod tests {
    use super::Boxed;
    use std::rc::Rc;

    #[test]
    fn the_value_is_dropped_once_and_kept_when_moved_out() {
        let item = Rc::new(1);
        let b = Boxed::new(item.clone());
        let copy = b.clone();
        assert_eq!(Rc::strong_count(&item), 3);
        drop(b);
        assert_eq!(Rc::strong_count(&item), 2);
        let inner = copy.into_inner();
        assert_eq!(Rc::strong_count(&item), 2);
        drop(inner);
        assert_eq!(Rc::strong_count(&item), 1);
        let from_box: Boxed<u8> = Box::new(7).into();
        assert_eq!(*from_box, 7);
        assert_eq!(*from_box.into_box(), 7);
        assert_eq!(Boxed::<u8>::default(), 0.into());
        assert!(Boxed::new(1) < Boxed::new(2));
    }
}
