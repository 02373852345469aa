package imds

import "fmt"

// FailMode is an injected failure of every metadata call.
type FailMode string

const (
	FailNone FailMode = "none" // answer normally
	Fail500  FailMode = "500"  // 500 Internal Server Error
	// FailHang holds the request until the client gives up or Close, like a
	// metadata proxy that stopped answering.
	FailHang FailMode = "hang"
)

// Validate accepts the three modes (and "" for none).
func (m FailMode) Validate() error {
	switch m {
	case "", FailNone, Fail500, FailHang:
		return nil
	}
	return fmt.Errorf("--fail: must be one of none|500|hang, got %q", string(m))
}
