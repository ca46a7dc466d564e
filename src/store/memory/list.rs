//! The in-memory List type: a deque of packed chunks, and the memory
//! store's part of the keyspace for lists ([`Lists`]).
//!
//! A [`ListValue`] is a `VecDeque` of [`Chunk`]s, each one buffer of
//! elements laid out as
//!
//! ```text
//! [length: LEB128][bytes][length: LEB128, bytes in reverse order]
//! ```
//!
//! so an element under 128 bytes costs its bytes plus two, as in Redis'
//! listpack (a header byte and a back-length byte), and a chunk can be
//! walked from either end: RPOP finds the last element from the chunk's
//! end without a scan. A chunk grows to [`CHUNK_BYTES`] (Redis'
//! `list-max-listpack-size -2`, 8 KB) before a new one is started at that
//! end; a small list is one chunk, like Redis' single listpack, in a deque
//! with room for just that chunk. Per chunk the deque holds 32 bytes
//! (buffer, count), as a quicklist node does. A list's first chunk grows
//! by doubling, capped at the target; a further chunk is allocated whole
//! (a big list fills it), and a chunk that is left behind gives back its
//! slack.
//!
//! Push and pop at either end touch one chunk. A pop at the front only
//! moves the chunk's start past the element; the dead bytes are reclaimed
//! (the elements moved down) once they are half the chunk, so LPOP of a
//! full chunk does not move the whole chunk each time, as listpack's
//! delete does. Positional reads
//! (LINDEX, LRANGE) find their chunk by the chunks' counts, from whichever
//! end is nearer, then walk inside it. Edits in the middle (LSET, LINSERT,
//! LREM, LTRIM) rebuild the chunks they change; a chunk that grows past
//! twice the target is split.
//!
//! This file is longer than ~600 lines on purpose: the list value (chunks,
//! their encoding and edits) and the memory store's `Lists` over it belong
//! together; a good third of it is tests.

use std::collections::VecDeque;

use bytes::Bytes;

use super::entry::{Collection, Entry, Value};
use super::keyspace::MemKeyspace;
use crate::commands::keyspace::Ks;
use crate::commands::lists::{End, Lists};

/// Bytes a chunk grows to before a new one is started.
pub const CHUNK_BYTES: usize = 8 * 1024;

/// The value of a List key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListValue {
    chunks: VecDeque<Chunk>,
    /// Elements in all chunks: LLEN without a walk.
    len: usize,
}

/// A change to one chunk's elements.
enum Edit<'e> {
    Set(usize, &'e [u8]),
    Insert(usize, &'e [u8]),
    DropFront(usize),
}

/// One buffer of packed elements (see the module docs). The elements are
/// `buf[head..]`: a pop at the front only moves `head` past the element,
/// and the dead bytes before it are reclaimed once they are half the
/// buffer (or the chunk must grow), so popping a full 8 KB chunk from the
/// front moves ~4 KB per half-chunk popped, not the whole chunk per pop.
#[derive(Clone, Debug, Default)]
struct Chunk {
    buf: Vec<u8>,
    head: usize,
    count: u32,
}

impl PartialEq for Chunk {
    fn eq(&self, other: &Chunk) -> bool {
        self.count == other.count && self.live() == other.live()
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Bytes `element` takes in a chunk.
fn encoded_len(element: &[u8]) -> usize {
    element.len() + 2 * varint_len(element.len())
}

fn write_varint(buf: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn encode(buf: &mut Vec<u8>, element: &[u8]) {
    write_varint(buf, element.len());
    buf.extend_from_slice(element);
    let at = buf.len();
    write_varint(buf, element.len());
    buf[at..].reverse();
}

/// The element starting at `at`: (its bytes' range, where the next starts).
fn forward(buf: &[u8], at: usize) -> (usize, usize, usize) {
    let mut n = 0usize;
    let mut i = 0;
    loop {
        let b = buf[at + i];
        n |= ((b & 0x7f) as usize) << (7 * i);
        i += 1;
        if b < 0x80 {
            break;
        }
    }
    let start = at + i;
    (start, start + n, start + n + i)
}

/// The element ending at `end`: (where it starts, its bytes' range).
fn backward(buf: &[u8], end: usize) -> (usize, usize, usize) {
    let mut n = 0usize;
    let mut i = 0;
    loop {
        let b = buf[end - 1 - i];
        n |= ((b & 0x7f) as usize) << (7 * i);
        i += 1;
        if b < 0x80 {
            break;
        }
    }
    let data_end = end - i;
    let data_start = data_end - n;
    (data_start - i, data_start, data_end)
}

impl Chunk {
    fn of<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> Chunk {
        let mut chunk = Chunk::default();
        for e in elements {
            encode(&mut chunk.buf, e);
            chunk.count += 1;
        }
        chunk.buf.shrink_to_fit();
        chunk
    }

    /// The bytes of the chunk's elements.
    fn live(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    /// Bytes the chunk's elements take.
    fn live_len(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Move the elements down over the dead bytes before them.
    fn reclaim(&mut self) {
        if self.head > 0 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        let live = self.live();
        ChunkIter {
            buf: live,
            front: 0,
            back: live.len(),
        }
    }

    /// Room for `need` more bytes: doubling, as a `Vec` grows, but never
    /// past [`CHUNK_BYTES`] unless one element needs it, so a full chunk
    /// holds no more than its bytes (a plain `Vec` would double 6 KB to
    /// 12 KB for its last elements).
    fn reserve(&mut self, need: usize) {
        if self.buf.capacity() - self.buf.len() < need {
            self.reclaim();
        }
        let len = self.buf.len();
        if self.buf.capacity() - len < need {
            let target = (self.buf.capacity() * 2).min(CHUNK_BYTES).max(len + need);
            self.buf.reserve_exact(target - len);
        }
    }

    fn push(&mut self, end: End, element: &[u8]) {
        self.reserve(encoded_len(element));
        match end {
            End::Back => encode(&mut self.buf, element),
            End::Front => {
                // Encode at the back, then rotate it to the front of the
                // elements: no buffer of its own.
                let len = self.buf.len();
                encode(&mut self.buf, element);
                let added = self.buf.len() - len;
                let head = self.head;
                self.buf[head..].rotate_right(added);
            }
        }
        self.count += 1;
    }

    fn pop(&mut self, end: End) -> Option<Bytes> {
        if self.count == 0 {
            return None;
        }
        let out = match end {
            End::Front => {
                let (s, e, next) = forward(&self.buf, self.head);
                let out = Bytes::copy_from_slice(&self.buf[s..e]);
                self.head = next;
                if self.head * 2 >= self.buf.len() {
                    self.reclaim();
                }
                out
            }
            End::Back => {
                let (start, s, e) = backward(&self.buf, self.buf.len());
                let out = Bytes::copy_from_slice(&self.buf[s..e]);
                self.buf.truncate(start);
                out
            }
        };
        self.count -= 1;
        if self.count == 0 {
            self.buf.clear();
            self.head = 0;
        }
        if self.buf.capacity() > 256 && self.live_len() < self.buf.capacity() / 4 {
            self.reclaim();
            self.buf.shrink_to(self.buf.len() * 2);
        }
        Some(out)
    }
}

struct ChunkIter<'a> {
    buf: &'a [u8],
    front: usize,
    back: usize,
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (s, e, next) = forward(self.buf, self.front);
        self.front = next;
        Some(&self.buf[s..e])
    }
}

impl DoubleEndedIterator for ChunkIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let (start, s, e) = backward(self.buf, self.back);
        self.back = start;
        Some(&self.buf[s..e])
    }
}

impl ListValue {
    /// A list of `elements`, in order.
    pub fn from_elements<'a>(elements: impl IntoIterator<Item = &'a [u8]>) -> ListValue {
        let mut list = ListValue::default();
        for e in elements {
            list.push(End::Back, e);
        }
        list
    }

    /// Heap bytes owned by the value.
    pub fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>()
            + self.chunks.iter().map(|c| c.buf.capacity()).sum::<usize>()
    }

    /// OBJECT ENCODING's name for its representation.
    pub fn encoding(&self) -> &'static str {
        match self.chunks.len() {
            0 | 1 if self.chunks.iter().all(|c| c.live_len() <= CHUNK_BYTES) => "listpack",
            _ => "quicklist",
        }
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every element, head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    pub fn push(&mut self, end: End, element: &[u8]) {
        let need = encoded_len(element);
        let chunk = match end {
            End::Back => self.chunks.back_mut(),
            End::Front => self.chunks.front_mut(),
        };
        match chunk {
            Some(c) if c.live_len() + need <= CHUNK_BYTES || c.count == 0 => c.push(end, element),
            Some(full) => {
                // The end chunk is done growing: give back its slack.
                full.reclaim();
                full.buf.shrink_to_fit();
                self.new_chunk(end, need, element);
            }
            None => {
                // A small list is one chunk: no room for more in the deque.
                self.chunks.reserve_exact(1);
                self.new_chunk(end, need, element);
            }
        }
        self.len += 1;
    }

    fn new_chunk(&mut self, end: End, need: usize, element: &[u8]) {
        // A list's first chunk grows as it fills (most lists are small);
        // a further one means a big list, whose chunks fill: it takes its
        // full size at once, without a chain of reallocations.
        let room = if self.chunks.is_empty() {
            need
        } else {
            need.max(CHUNK_BYTES)
        };
        let mut c = Chunk {
            buf: Vec::with_capacity(room),
            head: 0,
            count: 0,
        };
        c.push(end, element);
        match end {
            End::Back => self.chunks.push_back(c),
            End::Front => self.chunks.push_front(c),
        }
    }

    pub fn pop(&mut self, end: End) -> Option<Bytes> {
        let chunk = match end {
            End::Back => self.chunks.back_mut()?,
            End::Front => self.chunks.front_mut()?,
        };
        let out = chunk.pop(end)?;
        if chunk.count == 0 {
            match end {
                End::Back => self.chunks.pop_back(),
                End::Front => self.chunks.pop_front(),
            };
        }
        self.len -= 1;
        Some(out)
    }

    /// The chunk holding position `index` (< len) and the position within
    /// it, counted from whichever end of the list is nearer.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len / 2 {
            let mut at = index;
            for (i, c) in self.chunks.iter().enumerate() {
                if at < c.count as usize {
                    return (i, at);
                }
                at -= c.count as usize;
            }
        } else {
            let mut from_back = self.len - 1 - index;
            for (i, c) in self.chunks.iter().enumerate().rev() {
                if from_back < c.count as usize {
                    return (i, c.count as usize - 1 - from_back);
                }
                from_back -= c.count as usize;
            }
        }
        unreachable!("list position {index} past its length {}", self.len)
    }

    /// The element at `index`, if the list is that long.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (c, at) = self.locate(index);
        let chunk = &self.chunks[c];
        if at < chunk.count as usize / 2 {
            chunk.iter().nth(at)
        } else {
            chunk.iter().rev().nth(chunk.count as usize - 1 - at)
        }
    }

    /// Elements `start..=stop` (within the list), head to tail.
    pub fn range(&self, start: usize, stop: usize) -> Vec<Bytes> {
        if start > stop || start >= self.len {
            return Vec::new();
        }
        let stop = stop.min(self.len - 1);
        let (c, at) = self.locate(start);
        self.chunks
            .range(c..)
            .flat_map(|c| c.iter())
            .skip(at)
            .take(stop - start + 1)
            .map(Bytes::copy_from_slice)
            .collect()
    }

    /// Replace the chunk `c` by `elements`, split in two if it grew past
    /// twice the target; drops it when empty.
    fn rebuild(&mut self, c: usize, elements: Vec<&[u8]>) -> Chunk {
        let old_count = self.chunks[c].count as usize;
        let new_count = elements.len();
        let bytes: usize = elements.iter().map(|e| encoded_len(e)).sum();
        let chunk = if bytes > 2 * CHUNK_BYTES && new_count > 1 {
            let half = new_count / 2;
            let second = Chunk::of(elements[half..].iter().copied());
            let first = Chunk::of(elements[..half].iter().copied());
            self.chunks.insert(c + 1, second);
            first
        } else {
            Chunk::of(elements)
        };
        self.len = self.len + new_count - old_count;
        chunk
    }

    fn edit(&mut self, c: usize, change: Edit<'_>) {
        let old = std::mem::take(&mut self.chunks[c]);
        let mut elements: Vec<&[u8]> = old.iter().collect();
        match change {
            Edit::Set(at, e) => elements[at] = e,
            Edit::Insert(at, e) => elements.insert(at, e),
            Edit::DropFront(n) => {
                elements.drain(..n);
            }
        }
        // `rebuild` counts the old chunk's elements from its slot.
        self.chunks[c].count = old.count;
        let chunk = self.rebuild(c, elements);
        if chunk.count == 0 {
            self.chunks.remove(c);
        } else {
            self.chunks[c] = chunk;
        }
    }

    /// Replace the element at `index`; false when out of range.
    pub fn set(&mut self, index: usize, element: &[u8]) -> bool {
        if index >= self.len {
            return false;
        }
        let (c, at) = self.locate(index);
        self.edit(c, Edit::Set(at, element));
        true
    }

    /// Insert `element` so that it ends at `index` (<= len).
    pub fn insert(&mut self, index: usize, element: &[u8]) {
        if index == 0 {
            return self.push(End::Front, element);
        }
        if index >= self.len {
            return self.push(End::Back, element);
        }
        let (c, at) = self.locate(index);
        self.edit(c, Edit::Insert(at, element));
    }

    /// Remove up to `limit` (0: all) elements equal to `element`, from the
    /// head or (`from_back`) the tail; how many went.
    pub fn remove_eq(&mut self, element: &[u8], limit: usize, from_back: bool) -> usize {
        let mut removed = 0;
        let order: Vec<usize> = if from_back {
            (0..self.chunks.len()).rev().collect()
        } else {
            (0..self.chunks.len()).collect()
        };
        let mut emptied = Vec::new();
        for c in order {
            if limit != 0 && removed == limit {
                break;
            }
            if !self.chunks[c].iter().any(|e| e == element) {
                continue;
            }
            let old = std::mem::take(&mut self.chunks[c]);
            let mut keep: Vec<&[u8]> = old.iter().collect();
            let mut gone = vec![false; keep.len()];
            let positions: Box<dyn Iterator<Item = usize>> = if from_back {
                Box::new((0..keep.len()).rev())
            } else {
                Box::new(0..keep.len())
            };
            for i in positions {
                if limit != 0 && removed == limit {
                    break;
                }
                if keep[i] == element {
                    gone[i] = true;
                    removed += 1;
                }
            }
            let mut i = 0;
            keep.retain(|_| {
                i += 1;
                !gone[i - 1]
            });
            self.len -= old.count as usize - keep.len();
            let chunk = Chunk::of(keep);
            if chunk.count == 0 {
                emptied.push(c);
            }
            self.chunks[c] = chunk;
        }
        emptied.sort_unstable();
        for c in emptied.into_iter().rev() {
            self.chunks.remove(c);
        }
        removed
    }

    /// Keep only elements `start..end` (end exclusive, within the list).
    pub fn trim(&mut self, start: usize, end: usize) {
        let end = end.min(self.len);
        if start >= end {
            self.chunks.clear();
            self.len = 0;
            return;
        }
        // Drop whole chunks past the end, then before the start.
        let mut drop_back = self.len - end;
        while let Some(last) = self.chunks.back() {
            if (last.count as usize) > drop_back {
                break;
            }
            drop_back -= last.count as usize;
            self.len -= last.count as usize;
            self.chunks.pop_back();
        }
        for _ in 0..drop_back {
            self.pop(End::Back);
        }
        let mut drop_front = start;
        while let Some(first) = self.chunks.front() {
            if (first.count as usize) > drop_front {
                break;
            }
            drop_front -= first.count as usize;
            self.len -= first.count as usize;
            self.chunks.pop_front();
        }
        if drop_front > 0 {
            self.edit(0, Edit::DropFront(drop_front));
        }
    }

    /// Positions of elements equal to `element`, searching from the head
    /// or (`from_back`) the tail: the matches after the first `skip`, at
    /// most `limit` of them (0: all), looking at no more than `maxlen`
    /// elements (0: all).
    pub fn positions(
        &self,
        element: &[u8],
        from_back: bool,
        skip: usize,
        limit: usize,
        maxlen: usize,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        let mut matches = 0;
        let scan = if maxlen == 0 {
            self.len
        } else {
            maxlen.min(self.len)
        };
        let mut visit = |i: usize, e: &[u8]| -> bool {
            if e == element {
                matches += 1;
                if matches > skip {
                    out.push(if from_back { self.len - 1 - i } else { i });
                    if limit != 0 && out.len() == limit {
                        return false;
                    }
                }
            }
            true
        };
        if from_back {
            for (i, e) in self.iter().rev().take(scan).enumerate() {
                if !visit(i, e) {
                    break;
                }
            }
        } else {
            for (i, e) in self.iter().take(scan).enumerate() {
                if !visit(i, e) {
                    break;
                }
            }
        }
        out
    }
}

impl MemKeyspace<'_> {
    /// The list at `key`; None when absent or of another type (the
    /// command has checked the type).
    fn list(&mut self, key: &[u8]) -> Option<&ListValue> {
        self.expire_if_needed(key);
        match self.table().get(key)?.value() {
            Value::Coll(Collection::List(l)) => Some(l),
            _ => None,
        }
    }

    /// Change the list at `key` with `f`, deleting the key if it leaves
    /// the list empty; None when there is no list there.
    fn with_list<T>(&mut self, key: &[u8], f: impl FnOnce(&mut ListValue) -> T) -> Option<T> {
        self.expire_if_needed(key);
        let entry = self.table().get_mut(key)?;
        let Some(Collection::List(list)) = entry.collection_mut() else {
            return None;
        };
        let out = f(list);
        let empty = list.is_empty();
        if empty {
            self.table().remove(key);
        }
        self.touch(key);
        Some(out)
    }
}

impl Lists for MemKeyspace<'_> {
    fn list_len(&mut self, key: &[u8]) -> Ks<usize> {
        Ok(self.list(key).map_or(0, ListValue::len))
    }

    fn list_push(&mut self, key: &[u8], end: End, elements: &[Bytes]) -> Ks<usize> {
        let pushed = self.with_list(key, |l| {
            for e in elements {
                l.push(end, e);
            }
            l.len()
        });
        if let Some(len) = pushed {
            return Ok(len);
        }
        let mut list = ListValue::default();
        for e in elements {
            list.push(end, e);
        }
        let len = list.len();
        if len > 0 {
            self.store(Entry::collection(key, Collection::List(list), 0));
        }
        Ok(len)
    }

    fn list_pop(&mut self, key: &[u8], end: End, count: usize) -> Ks<Vec<Bytes>> {
        Ok(self
            .with_list(key, |l| (0..count).map_while(|_| l.pop(end)).collect())
            .unwrap_or_default())
    }

    fn list_range(&mut self, key: &[u8], start: usize, stop: usize) -> Ks<Vec<Bytes>> {
        Ok(self
            .list(key)
            .map(|l| l.range(start, stop))
            .unwrap_or_default())
    }

    fn list_get(&mut self, key: &[u8], index: usize) -> Ks<Option<Bytes>> {
        Ok(self
            .list(key)
            .and_then(|l| l.get(index))
            .map(Bytes::copy_from_slice))
    }

    fn list_set(&mut self, key: &[u8], index: usize, element: &[u8]) -> Ks<bool> {
        if self.list(key).is_none_or(|l| index >= l.len()) {
            return Ok(false);
        }
        Ok(self
            .with_list(key, |l| l.set(index, element))
            .unwrap_or(false))
    }

    fn list_insert(&mut self, key: &[u8], index: usize, element: &[u8]) -> Ks<usize> {
        Ok(self
            .with_list(key, |l| {
                l.insert(index, element);
                l.len()
            })
            .unwrap_or(0))
    }

    fn list_remove_eq(
        &mut self,
        key: &[u8],
        element: &[u8],
        limit: usize,
        from_back: bool,
    ) -> Ks<usize> {
        if !self
            .list(key)
            .is_some_and(|l| l.iter().any(|e| e == element))
        {
            return Ok(0);
        }
        Ok(self
            .with_list(key, |l| l.remove_eq(element, limit, from_back))
            .unwrap_or(0))
    }

    fn list_trim(&mut self, key: &[u8], start: usize, end: usize) -> Ks<()> {
        self.with_list(key, |l| l.trim(start, end));
        Ok(())
    }

    fn list_positions(
        &mut self,
        key: &[u8],
        element: &[u8],
        from_back: bool,
        skip: usize,
        limit: usize,
        maxlen: usize,
    ) -> Ks<Vec<usize>> {
        Ok(self
            .list(key)
            .map(|l| l.positions(element, from_back, skip, limit, maxlen))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque as Model;

    #[derive(Clone, Debug)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Remove(Vec<u8>, usize, bool),
        Trim(usize, usize),
    }

    fn element() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(b'a'..b'd', 0..3),
            proptest::collection::vec(any::<u8>(), 100..300),
            proptest::collection::vec(any::<u8>(), 3000..5000),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<bool>(), element()).prop_map(|(f, e)| Op::Push(f, e)),
            2 => any::<bool>().prop_map(Op::Pop),
            1 => (0..60usize, element()).prop_map(|(i, e)| Op::Set(i, e)),
            1 => (0..60usize, element()).prop_map(|(i, e)| Op::Insert(i, e)),
            1 => (proptest::collection::vec(b'a'..b'd', 0..3), 0..3usize, any::<bool>())
                .prop_map(|(e, n, b)| Op::Remove(e, n, b)),
            1 => (0..60usize, 0..60usize).prop_map(|(s, e)| Op::Trim(s, e)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_a_deque(ops in proptest::collection::vec(op(), 0..120)) {
            let mut list = ListValue::default();
            let mut model: Model<Vec<u8>> = Model::new();
            for op in ops {
                match op {
                    Op::Push(front, e) => {
                        if front {
                            list.push(End::Front, &e);
                            model.push_front(e);
                        } else {
                            list.push(End::Back, &e);
                            model.push_back(e);
                        }
                    }
                    Op::Pop(front) => {
                        let (got, want) = if front {
                            (list.pop(End::Front), model.pop_front())
                        } else {
                            (list.pop(End::Back), model.pop_back())
                        };
                        prop_assert_eq!(got.map(|b| b.to_vec()), want);
                    }
                    Op::Set(i, e) => {
                        let ok = list.set(i, &e);
                        prop_assert_eq!(ok, i < model.len());
                        if ok {
                            model[i] = e;
                        }
                    }
                    Op::Insert(i, e) => {
                        let i = i.min(model.len());
                        list.insert(i, &e);
                        model.insert(i, e);
                    }
                    Op::Remove(e, n, back) => {
                        let got = list.remove_eq(&e, n, back);
                        let mut idx: Vec<usize> =
                            (0..model.len()).filter(|&i| model[i] == e).collect();
                        if back {
                            idx.reverse();
                        }
                        if n != 0 {
                            idx.truncate(n);
                        }
                        idx.sort_unstable();
                        for &i in idx.iter().rev() {
                            model.remove(i);
                        }
                        prop_assert_eq!(got, idx.len());
                    }
                    Op::Trim(s, e) => {
                        list.trim(s, e);
                        let keep: Model<Vec<u8>> =
                            model.iter().skip(s).take(e.saturating_sub(s)).cloned().collect();
                        model = keep;
                    }
                }
                prop_assert_eq!(list.len(), model.len());
                prop_assert_eq!(list.chunks.iter().map(|c| c.count as usize).sum::<usize>(), model.len());
                prop_assert!(list.chunks.iter().all(|c| c.count > 0));
                let all: Vec<Vec<u8>> = list.iter().map(|e| e.to_vec()).collect();
                prop_assert_eq!(&all, &model.iter().cloned().collect::<Vec<_>>());
                let rev: Vec<Vec<u8>> = list.iter().rev().map(|e| e.to_vec()).collect();
                prop_assert_eq!(rev, model.iter().rev().cloned().collect::<Vec<_>>());
                for (i, e) in model.iter().enumerate() {
                    prop_assert_eq!(list.get(i), Some(&e[..]));
                }
                if !model.is_empty() {
                    let r = list.range(1, model.len());
                    prop_assert_eq!(r.len(), model.len() - 1);
                }
            }
        }
    }

    #[test]
    fn small_elements_cost_two_bytes_each() {
        let elements: Vec<Vec<u8>> = (0..1000).map(|i| format!("{i:08}").into_bytes()).collect();
        let list = ListValue::from_elements(elements.iter().map(|e| &e[..]));
        let data: usize = list.chunks.iter().map(|c| c.live_len()).sum();
        assert_eq!(data, 1000 * (8 + 2));
        assert!(list.chunks.len() >= 2, "chunks of at most 8 KB");
        assert!(list.chunks.iter().all(|c| c.live_len() <= CHUNK_BYTES));
    }

    #[test]
    fn a_big_list_holds_little_more_than_its_elements() {
        // Redis' quicklist: 8 KB listpacks, 2 bytes per short element,
        // plus a 32-byte node and a 7-byte header per listpack.
        let mut list = ListValue::default();
        for i in 0..100_000u32 {
            let e = format!("v{i:09}");
            list.push(
                if i % 2 == 0 { End::Back } else { End::Front },
                e.as_bytes(),
            );
        }
        let data = 100_000 * 12;
        // The two end chunks are allocated whole when opened.
        let redis = data + (data / CHUNK_BYTES + 1) * (32 + 7) + 2 * CHUNK_BYTES;
        assert!(
            list.heap_bytes() <= redis,
            "{} bytes for {data} of elements",
            list.heap_bytes()
        );
    }

    #[test]
    fn positions_follow_lpos() {
        let l = ListValue::from_elements([&b"a"[..], b"b", b"a", b"c", b"a"]);
        assert_eq!(l.positions(b"a", false, 0, 0, 0), vec![0, 2, 4]);
        assert_eq!(l.positions(b"a", true, 0, 2, 0), vec![4, 2]);
        assert_eq!(l.positions(b"a", false, 1, 1, 0), vec![2]);
        assert_eq!(l.positions(b"a", false, 0, 0, 2), vec![0]);
    }
}
