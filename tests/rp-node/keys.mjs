// Makes a key pair with jose: `node keys.mjs ALG KID` prints { private, public } JWKs.
import * as jose from 'jose'
import { print } from './common.mjs'

const [alg = 'ES256', kid = 'k1'] = process.argv.slice(2)
const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true })
const common = { kid, alg, use: 'sig' }
print({ private: { ...(await jose.exportJWK(privateKey)), ...common }, public: { ...(await jose.exportJWK(publicKey)), ...common } })
