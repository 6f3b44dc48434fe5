<%@ page contentType="application/json; charset=UTF-8" trimDirectiveWhitespaces="true" %>
<%
  // Counts requests in the session. The attribute is set again after each
  // increment so DeltaManager replicates the change.
  Integer count = (Integer) session.getAttribute("count");
  int next = (count == null ? 0 : count.intValue()) + 1;
  session.setAttribute("count", Integer.valueOf(next));
  String node = System.getProperty("tomcattest.node", "");
  out.print("{\"count\":" + next + ",\"node\":\"" + node.replace("\\", "\\\\").replace("\"", "\\\"")
      + "\",\"id\":\"" + session.getId().replace("\\", "\\\\").replace("\"", "\\\"") + "\"}");
%>
