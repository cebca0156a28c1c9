package main

import (
	"fmt"
	"net/http"
)

// hasTag asks the registry's HTTP API whether repo:tag exists.
func hasTag(registry, repo, tag string) bool {
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/%s/manifests/%s", registry, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
