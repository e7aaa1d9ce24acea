package dbrecords

import "strings"

const maxNameLen = 253 // presentation length without the trailing dot (RFC 1035 2.3.4)

// nameKey returns the lower-case, dot-less form of a row's name that the store,
// the change log and the invalid-row bookkeeping all agree on.
func nameKey(raw string) string {
	return strings.ToLower(strings.TrimSuffix(raw, "."))
}

// validName reports whether key (see nameKey) is a host name we serve: labels of
// letters, digits, '-' and '_' of 1 to 63 characters, and optionally a leading '*'
// label for a wildcard (RFC 4592).
func validName(key string) bool {
	if key == "" || len(key) > maxNameLen {
		return false
	}
	for i, label := range strings.Split(key, ".") {
		if label == "*" && i == 0 {
			continue
		}
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for j := range len(label) {
			if !labelByte(label[j]) {
				return false
			}
		}
	}
	return true
}

// labelByte reports whether c may appear in a label of a served name.
func labelByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// zoneOf returns the index of the most specific zone that contains fqdn, or -1.
// zones are lower-case FQDNs.
func zoneOf(fqdn string, zones []string) int {
	best := -1
	for i, z := range zones {
		if !inZone(fqdn, z) {
			continue
		}
		if best == -1 || len(z) > len(zones[best]) {
			best = i
		}
	}
	return best
}

// inZone reports whether the lower-case FQDN name is zone or lies below it.
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	return len(name) == len(zone) || name[len(name)-len(zone)-1] == '.'
}

// parent returns name without its first label; name must not be the root.
func parent(name string) string {
	i := strings.IndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return "."
	}
	return name[i+1:]
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// hashName hashes s with FNV-1a, continuing from h (start with fnvOffset), so
// that the hash of "*." + name can be computed without building the string.
func hashName(h uint64, s string) uint64 {
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// mix spreads the FNV state over the low bits that select a bucket.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}
