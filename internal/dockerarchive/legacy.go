// Package dockerarchive knows the layouts of the archives `docker save` writes, for
// reading them as a stream: Docker's legacy layout (before Docker 25: a folder per
// layer named by a v1 ID, holding json and layer.tar) and the OCI image layout.
package dockerarchive

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// LegacyLayerDiffID tells which layer the entry "<v1ID>/json" of Docker's legacy save
// layout (Docker before 25) describes, so that a cached layer need not be analysed
// before its diff ID is known from its content. Docker names such a folder by a v1 ID
// that it derives from the layer's chain ID (moby image/v1.CreateID: the SHA-256 of the
// entry's JSON without "id", with "parent" as a digest and "layer_id" set to the chain
// ID; the "os" key is added after the ID is made, except on the top layer). Each
// candidate chain ID of diffIDs (bottom first) is tried; "" when none gives v1ID.
func LegacyLayerDiffID(v1ID string, raw []byte, diffIDs []string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(v1ID) != 64 {
		return ""
	}
	delete(m, "id")
	if raw, ok := m["parent"]; ok {
		var parent string
		if json.Unmarshal(raw, &parent) != nil {
			return ""
		}
		m["parent"], _ = json.Marshal("sha256:" + parent)
	}
	osRaw, hasOS := m["os"]
	chain := ""
	for i, d := range diffIDs {
		if i == 0 {
			chain = d
		} else {
			chain = Digest([]byte(chain + " " + d))
		}
		m["layer_id"], _ = json.Marshal(chain)
		for _, withOS := range []bool{true, false} {
			if withOS && !hasOS {
				continue
			}
			delete(m, "os")
			if withOS {
				m["os"] = osRaw
			}
			if b, err := json.Marshal(m); err == nil && Digest(b) == "sha256:"+v1ID {
				return d
			}
		}
	}
	return ""
}

// Digest returns the OCI digest of b: "sha256:" and 64 hex digits.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
