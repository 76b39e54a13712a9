package cache

import "hash/maphash"

// key128 identifies a cached token: two 64-bit hashes of it under two
// independent secret seeds. The raw token is never stored; see doc.go for why
// two different tokens cannot share an entry.
type key128 struct {
	lo, hi uint64
}

// keyer turns tokens into keys. Its seeds are random per Cache, drawn from the
// runtime's secure source by maphash.MakeSeed, and never leave the process.
type keyer struct {
	lo, hi maphash.Seed
}

func newKeyer() keyer {
	return keyer{lo: maphash.MakeSeed(), hi: maphash.MakeSeed()}
}

// key hashes token twice. It does not allocate.
// maphash.Comparable hashes the whole string in one call of the runtime's
// map hash, where maphash.String would feed it 128 bytes at a time (see
// doc.go, Keys).
func (k *keyer) key(token string) key128 {
	return key128{lo: maphash.Comparable(k.lo, token), hi: maphash.Comparable(k.hi, token)}
}
