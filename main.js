"use strict";
// The package entry: the native addon (through napi's generated loader,
// index.js) joined to its JavaScript half (realm.js), evaluated here, in the
// importer's realm.
//
// When no binary loads, the loader's own error blames npm's optional
// dependency bug; ours (no-binary.js) names the platform, the prebuilt ones
// and the command that builds the addon from source, with the loader's error
// as its cause.
let binding;
try {
  binding = require("./index.js");
} catch (err) {
  throw require("./no-binary.js").noBinaryError({ pkgDir: __dirname, cause: err });
}
const realm = require("./realm.js");

// Where this package is: the egress proxy binaries live in egress-proxy/dist here.
binding.attachRealm({ ...realm, packageDir: __dirname });

module.exports.AgentContainerRunner = binding.AgentContainerRunner;
module.exports.ContainerError = realm.ContainerError;
module.exports.scanOutbox = binding.scanOutbox;
// Declared by napi's generated typings: which binary the loader picked.
module.exports.__napiBindingTarget = binding.__napiBindingTarget;
