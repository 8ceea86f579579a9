DROP TABLE grant_dpop_keys;
DROP TABLE backchannel_logouts;
DROP TABLE dpop_proofs;
