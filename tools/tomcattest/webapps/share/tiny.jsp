<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%
  // The smallest page, for benchmarks. The attribute keeps it out of the
  // access log (AccessLogValve conditionUnless) when a node has one.
  request.setAttribute("tomcattest.nolog", Boolean.TRUE);
  out.print("hello");
%>
