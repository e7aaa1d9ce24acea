package records

import "strings"

const maxNameLen = 253 // presentation length without the trailing dot (RFC 1035 2.3.4)

// NameKey returns the lower-case, dot-less form of a row's name that the store,
// the change log and the invalid-row bookkeeping all agree on.
func NameKey(raw string) string {
	return strings.ToLower(strings.TrimSuffix(raw, "."))
}

// ValidName reports whether key (see nameKey) is a host name we serve: labels of
// letters, digits, '-' and '_' of 1 to 63 characters, and optionally a leading '*'
// label for a wildcard (RFC 4592).
func ValidName(key string) bool {
	if key == "" || len(key) > maxNameLen {
		return false
	}
	// Label by label, without splitting (this runs for every row read).
	for i, start := 0, 0; start <= len(key); i++ {
		end := strings.IndexByte(key[start:], '.')
		if end < 0 {
			end = len(key)
		} else {
			end += start
		}
		label := key[start:end]
		start = end + 1
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
