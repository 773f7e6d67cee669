//! [`Repeated`]: the storage of a repeated member of a generated message or grouped AVP.
//!
//! A wide grammar has many repeated members and most of them stay empty (an MSCC has nine,
//! a CCR eight). Dropping an empty `Vec` takes an out-of-line call per member; dropping an
//! empty `Repeated` is one inlined comparison. Everything else is the `Vec` it dereferences
//! to: `push`, `iter`, indexing, `len`, slices.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

/// A `Vec<T>` whose drop is free when it never allocated. Build it from a `Vec`
/// (`vec![..].into()`) or an iterator (`collect()`); use it as the `Vec` it dereferences to.
/// Compared, ordered and hashed as that `Vec`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Repeated<T>(ManuallyDrop<Vec<T>>);

impl<T> Repeated<T> {
    /// No elements, no allocation.
    pub const fn new() -> Self {
        Repeated(ManuallyDrop::new(Vec::new()))
    }

    /// The elements as a `Vec`, without a copy.
    pub fn into_vec(self) -> Vec<T> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the vector is moved out once.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<T> Drop for Repeated<T> {
    #[inline(always)]
    fn drop(&mut self) {
        // A vector that never allocated owns no elements and no buffer: nothing to drop.
        if self.0.capacity() != 0 {
            drop_elements(&mut self.0);
        }
    }
}

/// Out of line, so that the check above stays small enough to be inlined into every
/// message's drop.
#[inline(never)]
fn drop_elements<T>(items: &mut ManuallyDrop<Vec<T>>) {
    // SAFETY: called once, from `Repeated::drop`; the field is not used afterwards.
    unsafe { ManuallyDrop::drop(items) }
}

/// Empty, whatever `T` is (a derived default would ask `T: Default`).
impl<T> Default for Repeated<T> {
    #[inline(always)]
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Deref for Repeated<T> {
    type Target = Vec<T>;
    #[inline(always)]
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> DerefMut for Repeated<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Repeated<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for Repeated<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        **self == *other
    }
}

impl<T: PartialEq> PartialEq<[T]> for Repeated<T> {
    fn eq(&self, other: &[T]) -> bool {
        self[..] == *other
    }
}

impl<T: PartialEq, const N: usize> PartialEq<[T; N]> for Repeated<T> {
    fn eq(&self, other: &[T; N]) -> bool {
        self[..] == other[..]
    }
}

impl<T> From<Vec<T>> for Repeated<T> {
    #[inline]
    fn from(v: Vec<T>) -> Self {
        Repeated(ManuallyDrop::new(v))
    }
}

impl<T, const N: usize> From<[T; N]> for Repeated<T> {
    fn from(a: [T; N]) -> Self {
        Vec::from(a).into()
    }
}

impl<T> From<Repeated<T>> for Vec<T> {
    fn from(r: Repeated<T>) -> Self {
        r.into_vec()
    }
}

impl<T> FromIterator<T> for Repeated<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Vec::from_iter(iter).into()
    }
}

impl<T> Extend<T> for Repeated<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.0.extend(iter)
    }
}

impl<T> IntoIterator for Repeated<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a, T> IntoIterator for &'a Repeated<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a, T> IntoIterator for &'a mut Repeated<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::Repeated;
    use std::rc::Rc;

    #[test]
    fn elements_are_dropped_once_and_kept_when_moved_out() {
        let item = Rc::new(1);
        let r: Repeated<Rc<i32>> = vec![item.clone(), item.clone()].into();
        assert_eq!(Rc::strong_count(&item), 3);
        let v = r.clone().into_vec();
        assert_eq!(Rc::strong_count(&item), 5);
        drop(r);
        assert_eq!(Rc::strong_count(&item), 3);
        let mut emptied: Repeated<Rc<i32>> = v.into();
        emptied.clear();
        assert_eq!(Rc::strong_count(&item), 1);
        drop(emptied);
        let collected: Repeated<i32> = (1..=3).collect();
        assert_eq!(collected, [1, 2, 3]);
        assert_eq!(collected.into_iter().sum::<i32>(), 6);
        assert_eq!(Repeated::<u8>::new(), Repeated::default());
        let (a, b): (Repeated<u8>, Repeated<u8>) = (vec![1, 2].into(), vec![1, 3].into());
        assert!(a < b);
        let hash = |v: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            v(&mut h);
            std::hash::Hasher::finish(&h)
        };
        use std::hash::Hash;
        assert_eq!(hash(&|h| a.hash(h)), hash(&|h| vec![1u8, 2].hash(h)));
    }
}
