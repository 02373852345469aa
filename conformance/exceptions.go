package conformance

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Exception is a known, explained difference between real Kong and the
// emulation. Case "*" covers every case (one cause with many symptoms,
// such as status-line reason phrases); What "" covers every item of the
// aspect.
type Exception struct {
	Case   string `yaml:"case"`
	Aspect string `yaml:"aspect"`
	What   string `yaml:"what,omitempty"`
	Reason string `yaml:"reason"`
}

func (e Exception) covers(c string, d Diff) bool {
	return (e.Case == "*" || e.Case == c) && (e.Aspect == "" || e.Aspect == d.Aspect) && (e.What == "" || e.What == d.What)
}

// LoadExceptions reads exceptions.yaml; every entry needs a case, an
// aspect and a reason.
func LoadExceptions(path string) ([]Exception, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Exceptions []Exception `yaml:"exceptions"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, e := range doc.Exceptions {
		if e.Case == "" || e.Aspect == "" || e.Reason == "" {
			return nil, fmt.Errorf("%s: exception %d: case, aspect and reason are required", path, i+1)
		}
	}
	return doc.Exceptions, nil
}
