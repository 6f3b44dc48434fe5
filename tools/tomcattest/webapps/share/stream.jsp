<%@ page contentType="text/plain; charset=UTF-8" session="false" trimDirectiveWhitespaces="true" %>
<%
  // stream.jsp?n=K&delay=MS: K lines "chunk i\n", each flushed to the client,
  // MS milliseconds apart.
  int n = 5;
  long delay = 0;
  try { if (request.getParameter("n") != null) n = Integer.parseInt(request.getParameter("n")); } catch (NumberFormatException e) { }
  try { if (request.getParameter("delay") != null) delay = Long.parseLong(request.getParameter("delay")); } catch (NumberFormatException e) { }
  for (int i = 0; i < n; i++) {
    if (i > 0 && delay > 0) {
      Thread.sleep(delay);
    }
    out.print("chunk " + i + "\n");
    out.flush();
    response.flushBuffer();
  }
%>
