//go:build !linux

package engine

import (
	"bytes"
	"context"
)

// CmdServe starts a warm engine (Linux only).
const CmdServe = "serve"

// Without Linux's SCM_RIGHTS and SO_PEERCRED there is no warm engine: every request
// starts an engine process.
func (c *Client) warmScan(context.Context, ScanRequest, []byte, **pendingExport, *ScanResponse) (bool, error) {
	return false, nil
}

func (c *Client) warmCall(context.Context, string, []byte, any, *bytes.Buffer) (bool, error) {
	return false, nil
}

// EngineStatusOf: no warm engine runs on this system.
func (c *Client) EngineStatusOf(context.Context, string) (EngineStatus, bool, error) {
	return EngineStatus{}, false, nil
}

// StopEngine: no warm engine runs on this system.
func (c *Client) StopEngine(context.Context, string) (int, bool, error) { return 0, false, nil }

// NoEngineReason: no warm engine on this system.
func NoEngineReason(string) string {
	return "there is no warm engine on this system: scans run one-shot"
}
