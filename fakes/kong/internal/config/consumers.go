package config

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

func (p *parser) consumer(n *yaml.Node, path []any) {
	o, ent := p.newEntity(n, path, "consumer")
	c := &Consumer{Tags: p.tags(o)}
	c.Username = o.str("username", "")
	c.CustomID = o.str("custom_id", "")
	if ent.name == "" {
		ent.name = c.Username
	}
	if c.Username == "" && c.CustomID == "" {
		p.w.entityError(o.ent, "at least one of these fields must be non-empty: 'custom_id', 'username'", o.line())
	}
	o.skip("created_at", "updated_at")
	c.ID = p.kongID(o, "consumers", c.Username, firstNonEmpty(c.Username, c.CustomID, pathString(path)))
	p.unique(o, "consumers", "username", c.Username)
	p.unique(o, "consumers", "custom_id", c.CustomID)
	p.cfg.Consumers = append(p.cfg.Consumers, c)
	for i, kn := range p.list(o, "keyauth_credentials") {
		p.keyAuth(kn, extend(path, "keyauth_credentials", i), c)
	}
	for i, jn := range p.list(o, "jwt_secrets") {
		p.jwtSecret(jn, extend(path, "jwt_secrets", i), c)
	}
	if _, ok := o.seq("plugins", "an array"); ok {
		o.fail("plugins", o.vals["plugins"], "the emulation does not support consumer-scoped plugins")
	}
	for _, k := range []string{"acls", "basicauth_credentials", "hmacauth_credentials", "oauth2_credentials", "mtls_auth_credentials"} {
		if o.has(k) {
			o.fail(k, o.vals[k], "the emulation does not support "+k)
		}
	}
	o.finish()
}

func (p *parser) credentialOwner(o *obj, c *Consumer, target any) {
	if c != nil {
		return
	}
	cn := o.get("consumer")
	if cn == nil {
		o.fail("consumer", nil, "required field missing")
		return
	}
	p.credRefs = append(p.credRefs, ref{o: o, field: "consumer", value: refValue(cn), node: cn, target: target})
}

func (p *parser) keyAuth(n *yaml.Node, path []any, c *Consumer) {
	o, _ := p.newEntity(n, path, "keyauth_credential")
	k := &KeyAuthCredential{Consumer: c}
	k.Key = o.str("key", "")
	if k.Key == "" {
		k.Key = strings.ReplaceAll(uuid.NewString(), "-", "") // Kong generates one
	}
	o.skip("tags", "created_at", "ttl")
	k.ID = p.id(o, "keyauth_credentials", k.Key)
	p.unique(o, "keyauth_credentials", "key", k.Key)
	p.credentialOwner(o, c, k)
	if c != nil {
		c.KeyAuthCredentials = append(c.KeyAuthCredentials, k)
	}
	o.finish()
}

var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}

func (p *parser) jwtSecret(n *yaml.Node, path []any, c *Consumer) {
	o, _ := p.newEntity(n, path, "jwt_secret")
	j := &JWTSecret{Consumer: c}
	j.Key = o.str("key", "")
	if j.Key == "" {
		j.Key = strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	j.Secret = o.str("secret", "")
	if j.Secret == "" {
		j.Secret = strings.ReplaceAll(uuid.NewString(), "-", "")
	}
	j.Algorithm = o.strOneOf("algorithm", "HS256", jwtAlgorithms...)
	j.RSAPublicKey = o.str("rsa_public_key", "")
	switch {
	case strings.HasPrefix(j.Algorithm, "RS") || strings.HasPrefix(j.Algorithm, "PS") || strings.HasPrefix(j.Algorithm, "ES"):
		if j.RSAPublicKey == "" {
			o.fail("rsa_public_key", nil, "required field missing")
			break
		}
		key, err := parsePublicKey(j.RSAPublicKey)
		if err != nil {
			o.fail("rsa_public_key", o.vals["rsa_public_key"], "invalid key")
		}
		j.rsaKey = key
	case j.Algorithm == "EdDSA":
		o.fail("algorithm", o.vals["algorithm"], "the emulation supports HS*, RS*, PS* and ES* algorithms")
	}
	o.skip("tags", "created_at")
	j.ID = p.id(o, "jwt_secrets", j.Key)
	p.unique(o, "jwt_secrets", "key", j.Key)
	p.credentialOwner(o, c, j)
	if c != nil {
		c.JWTSecrets = append(c.JWTSecrets, j)
	}
	o.finish()
}

func (p *parser) plugin(n *yaml.Node, path []any, svc *Service, route *Route) {
	o, _ := p.newEntity(n, path, "plugin")
	pl := &Plugin{Service: svc, Route: route}
	pl.Name = o.str("name", "")
	if !o.has("name") {
		o.fail("name", nil, "required field missing")
	}
	pl.Enabled = o.boolean("enabled", true)
	pl.Tags = p.tags(o)
	pl.Protocols = o.strings("protocols", "a set", []string{"grpc", "grpcs", "http", "https"})
	o.skip("created_at", "updated_at", "instance_name", "ordering")
	def, known := pluginSchemas[pl.Name]
	switch {
	case pl.Name == "":
	case !known && bundledPlugins[pl.Name]:
		o.fail("name", o.vals["name"], fmt.Sprintf("the emulation does not support plugin '%s' (supported: %s)", pl.Name, strings.Join(SupportedPlugins(), ", ")))
		o.skip("config")
	case !known:
		o.fail("name", o.vals["name"], fmt.Sprintf("plugin '%s' not enabled; add it to the 'plugins' configuration property", pl.Name))
		o.skip("config")
	default:
		co := o.record("config")
		pl.Config = def.parse(co)
		co.finish()
	}
	sref, rref, cref := o.get("service"), o.get("route"), o.get("consumer")
	if sref != nil || rref != nil || cref != nil {
		pr := pluginRef{o: o, pl: pl, svcN: sref, routeN: rref, conN: cref}
		if sref != nil {
			pr.svc = refValue(sref)
		}
		if rref != nil {
			pr.route = refValue(rref)
		}
		if cref != nil {
			pr.consum = refValue(cref)
		}
		p.pluginRefs = append(p.pluginRefs, pr)
	}
	pl.ID = p.id(o, "plugins", pathString(path)+pl.Name)
	p.cfg.Plugins = append(p.cfg.Plugins, pl)
	o.finish()
}
