# An agent image: busybox-static and one shell script that speaks the agent
# protocol, FROM scratch. Built by scripts/build-images.sh for the test fixture
# (__test__/fixtures/agent) and the demo agent (demo/agent).
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/mkdir", "-p", "/tmp", "/root"]
# As in any distribution's image: anyone may write /tmp (a non-root agent under readOnlyRootfs needs it).
RUN ["/bin/chmod", "1777", "/tmp"]
COPY agent.sh /agent.sh
ENTRYPOINT ["/bin/sh", "/agent.sh"]
