package mitm

import "testing"

func TestAlertSnifferFindsPlaintextAlertAcrossFragments(t *testing.T) {
	stream := []byte{
		22, 3, 3, 0, 3, 1, 2, 3, // a handshake record
		21, 3, 3, 0, 2, 2, 48, // plaintext fatal unknown_ca alert
	}
	for _, chunk := range []int{1, 2, 7, len(stream)} {
		s := &alertSniffer{}
		for i := 0; i < len(stream); i += chunk {
			s.scan(stream[i:min(i+chunk, len(stream))])
		}
		if got := s.sniffedAlert(); got != "remote error: tls: unknown certificate authority" {
			t.Errorf("chunks of %d: got %q", chunk, got)
		}
	}
}

func TestAlertSnifferIgnoresEncryptedRecords(t *testing.T) {
	s := &alertSniffer{}
	s.scan([]byte{23, 3, 3, 0, 2, 2, 48}) // application data
	s.scan(append([]byte{21, 3, 3, 0, 19}, make([]byte, 19)...))
	if got := s.sniffedAlert(); got != "" {
		t.Fatalf("got %q", got)
	}
}
