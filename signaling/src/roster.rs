//! The sockets of one room on this node, by peer id: a short list searched in order. A room holds a handful of
//! peers, so a list finds one as fast as a hash map does, in a fraction of the memory (paid for every socket).

pub struct Roster<T> {
    entries: Vec<(String, T)>,
}

impl<T> Default for Roster<T> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<T> Roster<T> {
    pub fn get(&self, peer_id: &str) -> Option<&T> {
        self.entries.iter().find(|(id, _)| id == peer_id).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, peer_id: &str) -> Option<&mut T> {
        self.entries.iter_mut().find(|(id, _)| id == peer_id).map(|(_, v)| v)
    }

    /// Sets the entry of `peer_id`, returning the one it replaces.
    pub fn insert(&mut self, peer_id: String, value: T) -> Option<T> {
        if let Some(slot) = self.get_mut(&peer_id) {
            return Some(std::mem::replace(slot, value));
        }
        // One slot at a time: spare slots would be kept for the room's whole life.
        self.entries.reserve_exact(1);
        self.entries.push((peer_id, value));
        None
    }

    pub fn remove(&mut self, peer_id: &str) -> Option<T> {
        let i = self.entries.iter().position(|(id, _)| id == peer_id)?;
        Some(self.entries.swap_remove(i).1)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut T)> {
        self.entries.iter_mut().map(|(id, v)| (id.as_str(), v))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_found_replaced_and_removed_by_peer_id() {
        let mut roster = Roster::default();
        assert_eq!(roster.insert("a".into(), 1), None);
        assert_eq!(roster.insert("b".into(), 2), None);
        assert_eq!(roster.insert("a".into(), 3), Some(1), "one entry per peer");
        assert_eq!(roster.get("a"), Some(&3));
        *roster.get_mut("b").unwrap() += 10;
        assert_eq!(roster.values().sum::<i32>(), 15);
        assert_eq!(roster.remove("a"), Some(3));
        assert_eq!(roster.remove("a"), None);
        assert_eq!(roster.iter_mut().map(|(id, v)| format!("{id}={v}")).collect::<Vec<_>>(), ["b=12"]);
        roster.clear();
        assert!(roster.is_empty());
    }
}
