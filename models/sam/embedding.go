package sam

import (
	"encoding/json"
	"fmt"

	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

// An embedding file is a safetensors file holding the tensor "image_embedding"
// (1, D, G, G) and the metadata "sam.original_size" and "sam.input_size" ([H, W] and
// [h, w] as JSON) and "sam.config" (the model's Config as JSON), so that prompts can be
// answered later without running the encoder again, by a model of the same architecture.

// SaveEmbedding writes the predictor's current embedding to path (atomically).
func (p *Predictor) SaveEmbedding(path string) error {
	f, orig, input := p.Embedding()
	if f == nil {
		return ErrNoImage
	}
	cfg, err := json.Marshal(p.Model.Config)
	if err != nil {
		return err
	}
	js := func(v [2]int) string { b, _ := json.Marshal(v); return string(b) }
	return safetensors.Save(path, []safetensors.Tensor{{Name: "image_embedding", DType: safetensors.F32, Shape: f.Shape(), Float32: f.Data()}},
		map[string]string{"sam.original_size": js(orig), "sam.input_size": js(input), "sam.config": string(cfg), "format": "fovea-sam-embedding"})
}

// LoadEmbedding reads an embedding file written by SaveEmbedding into the predictor,
// checking that it was made by a model of the same architecture.
func (p *Predictor) LoadEmbedding(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	md := f.Metadata()
	var orig, input [2]int
	for _, kv := range []struct {
		key string
		dst *[2]int
	}{{"sam.original_size", &orig}, {"sam.input_size", &input}} {
		v, ok := md[kv.key]
		if !ok {
			return fmt.Errorf("%s: no %q metadata: not an embedding written by fovea sam embed", path, kv.key)
		}
		if err := json.Unmarshal([]byte(v), kv.dst); err != nil {
			return fmt.Errorf("%s: metadata %q = %q: want [height, width]: %v", path, kv.key, v, err)
		}
	}
	if v, ok := md["sam.config"]; ok {
		var c Config
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return fmt.Errorf("%s: metadata \"sam.config\": %v", path, err)
		}
		if a, b := c.Describe(), p.Model.Config.Describe(); a != b {
			return fmt.Errorf("%s: made by another image encoder (%s); this model is %s", path, a, b)
		}
	}
	d, shape, err := f.Float32("image_embedding")
	if err != nil {
		return err
	}
	if err := p.SetEmbedding(tensor.New(d, shape...), orig, input); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
