"use strict";
// The package entry: the native addon (through napi's generated loader,
// index.js) joined to its JavaScript half (realm.js), evaluated here, in the
// importer's realm.
const binding = require("./index.js");
const realm = require("./realm.js");

binding.attachRealm(realm);

module.exports.AgentContainerRunner = binding.AgentContainerRunner;
module.exports.ContainerError = realm.ContainerError;
module.exports.scanOutbox = binding.scanOutbox;
// Declared by napi's generated typings: which binary the loader picked.
module.exports.__napiBindingTarget = binding.__napiBindingTarget;
