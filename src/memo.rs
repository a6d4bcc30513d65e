//! `Memo`: a process-wide table of values built once and shared (`Arc`) by every worker thread:
//! parsed known_hosts files, the knock templates, mask regexes. With a hundred hosts at once, one
//! copy instead of a hundred is what keeps the controller's memory flat.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

/// Values by key, each tagged with the token it was built at (a file's mtime and size, or `()`
/// for values that never go stale).
pub struct Memo<K, T, V> {
    map: Mutex<Option<Table<K, T, V>>>,
}

type Table<K, T, V> = HashMap<K, (T, Arc<V>)>;

impl<K: Eq + Hash, T: PartialEq, V> Default for Memo<K, T, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Eq + Hash, T: PartialEq, V> Memo<K, T, V> {
    pub const fn new() -> Self {
        Memo {
            map: Mutex::new(None),
        }
    }

    /// The value for `key` built at `token`. It is built when missing or built at another
    /// token, under the lock: a hundred threads asking at once build it once.
    pub fn get_or_try_build<E>(
        &self,
        key: K,
        token: T,
        build: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let map = map.get_or_insert_with(HashMap::new);
        if let Some((seen, v)) = map.get(&key) {
            if *seen == token {
                return Ok(Arc::clone(v));
            }
        }
        let v = Arc::new(build()?);
        map.insert(key, (token, Arc::clone(&v)));
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_once_per_key_and_again_when_the_token_changes() {
        static M: Memo<&str, u32, String> = Memo::new();
        use std::sync::atomic::{AtomicUsize, Ordering};
        static BUILDS: AtomicUsize = AtomicUsize::new(0);
        let get = |k: &'static str, t: u32| {
            M.get_or_try_build(k, t, || {
                BUILDS.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(format!("{k}@{t}"))
            })
            .unwrap()
        };
        let a = get("a", 1);
        assert!(Arc::ptr_eq(&a, &get("a", 1)));
        assert_eq!(*get("b", 1), "b@1");
        assert_eq!(*get("a", 2), "a@2");
        assert_eq!(BUILDS.load(Ordering::SeqCst), 3);
        assert!(M.get_or_try_build("c", 0, || Err("no")).is_err());
    }
}
